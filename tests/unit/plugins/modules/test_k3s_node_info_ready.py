# SPDX-License-Identifier: GPL-3.0-or-later
"""k3s_node_info's readiness reading, run as Ansible runs it, against a MOCK systemctl on
PATH (this machine's PID 1 is not systemd): the role skips its start-and-wait only when
the unit is active and every check answered what it expects."""

from __future__ import annotations

import os
import stat
import sys

from modrun import run_module

MOCK = r'''#!PYTHON
import os, sys
for key in sys.argv[2].split('=', 1)[1].split(','):
    print('%s=%s' % (key, {'ActiveState': os.environ['MOCK_ACTIVE']}.get(key, '')))
'''


def _run(tmp_path, active, checks):
    bindir = tmp_path / 'bin'
    bindir.mkdir(exist_ok=True)
    mock = bindir / 'systemctl'
    mock.write_text(MOCK.replace('PYTHON', sys.executable))
    mock.chmod(mock.stat().st_mode | stat.S_IEXEC)
    marker = tmp_path / 'ran'
    env = dict(os.environ, PATH='%s:%s' % (bindir, os.environ['PATH']), MOCK_ACTIVE=active)
    checks = [dict(c, argv=[a.replace('MARK', str(marker)) for a in c['argv']]) for c in checks]
    rc, result = run_module('k3s_node_info', {'unit': 'k3s', 'ready_checks': checks}, tmp_path, env=env)
    assert rc == 0, result
    return result['ready'], marker


API = {'argv': ['sh', '-c', 'echo ok; touch MARK'], 'expect': 'ok', 'what': 'serving the API'}
NODE = {'argv': ['echo', 'True'], 'expect': 'True', 'what': 'Ready in the cluster'}


def test_active_and_every_check_answers(tmp_path):
    ready, marker = _run(tmp_path, 'active', [API, NODE])
    assert ready == {'ok': True, 'reason': ''}
    assert marker.exists()


def test_a_check_answering_otherwise_names_it(tmp_path):
    ready, _marker = _run(tmp_path, 'active', [API, dict(NODE, argv=['echo', 'False'])])
    assert not ready['ok']
    assert ready['reason'] == "not Ready in the cluster: got 'False', want 'True'"


def test_a_failing_command_gives_its_error(tmp_path):
    ready, _marker = _run(tmp_path, 'active', [dict(NODE, argv=['sh', '-c', 'echo refused >&2; exit 1'])])
    assert ready == {'ok': False, 'reason': 'not Ready in the cluster: refused'}


def test_a_missing_program_is_an_answer_not_a_failure(tmp_path):
    ready, _marker = _run(tmp_path, 'active', [dict(NODE, argv=[str(tmp_path / 'no-such-k3s'), 'kubectl'])])
    assert not ready['ok'] and ready['reason'].startswith('not Ready in the cluster: ')


def test_no_check_runs_while_the_unit_is_not_active(tmp_path):
    ready, marker = _run(tmp_path, 'activating', [API, NODE])
    assert ready == {'ok': False, 'reason': 'the unit is activating'}
    assert not marker.exists()


def test_without_checks_it_is_never_ready(tmp_path):
    ready, _marker = _run(tmp_path, 'active', [])
    assert not ready['ok']
