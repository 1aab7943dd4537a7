# SPDX-License-Identifier: GPL-3.0-or-later
"""The stage_profile table and totals."""

from __future__ import annotations

from ansible_collections.brmartin.k3s_migration.plugins.callback import stage_profile

PLAYS = [
    {'name': 'Preflight', 'seconds': 3.2, 'hosts': {
        'hestia': {'tasks': 5, 'changed': 0, 'skipped': 1, 'seconds': 2.2},
        'nyx': {'tasks': 4, 'changed': 0, 'skipped': 1, 'seconds': 2.9}}},
    {'name': 'K3s - agents', 'seconds': 6.0, 'hosts': {
        'nyx': {'tasks': 7, 'changed': 1, 'skipped': 56, 'seconds': 4.7}}},
]


def test_totals_add_up_per_host():
    total = stage_profile.summarize(PLAYS)
    assert total['seconds'] == 9.2
    assert total['hosts']['nyx'] == {'tasks': 11, 'changed': 1, 'skipped': 57, 'seconds': 7.6}
    assert total['hosts']['hestia']['tasks'] == 5


def test_the_table_has_a_line_per_play_and_host():
    lines = stage_profile.render(PLAYS)
    assert lines[0] == '    3.2 s  Preflight'
    assert lines[1].split() == ['hestia', '5', 'tasks', 'run,', '0', 'changed,', '1', 'skipped,', '2.2', 's', 'in', 'tasks']
    assert lines[3] == '    6.0 s  K3s - agents'
    assert lines[5] == '    9.2 s  all plays'
    assert len(lines) == 8
