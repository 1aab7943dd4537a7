# SPDX-License-Identifier: GPL-3.0-or-later
"""nomad_node_drain against the lab's Nomad stand-in (tests/standins/nomad_agent.py: the
documented drain and eligibility endpoints, ACLs with a read-only token, a call log).

The stand-in is hestia's agent: minio and overseerr run there (service jobs), plus a
system job added here (node-exporter) that a drain leaves in place by default.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(TESTS))
from modrun import run_module  # noqa: E402

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _nomad_api as nomad_api  # noqa: E402

STANDINS = TESTS / 'standins'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture()
def nomad(tmp_path):
    fixture = json.loads((STANDINS / 'nomad_jobs.json').read_text())
    fixture['jobs'].append({'id': 'node-exporter', 'type': 'system', 'namespace': 'monitoring',
                            'groups': [{'name': 'exporter', 'node': 'hestia', 'ports': []}]})
    jobs = tmp_path / 'jobs.json'
    jobs.write_text(json.dumps(fixture))
    port, log = _free_port(), tmp_path / 'calls.jsonl'
    proc = subprocess.Popen([sys.executable, str(STANDINS / 'nomad_agent.py'), '--node-name', 'hestia',
                             '--jobs', str(jobs), '--nomad-port', str(port), '--acl-token', 'operator-token',
                             '--acl-read-token', 'reader-token', '--drain-seconds', '1.5', '--call-log', str(log)])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield {'addr': 'http://127.0.0.1:%d' % port, 'log': log, 'tmp': tmp_path}
    proc.terminate()
    proc.wait(timeout=10)


def drain(nomad, check=False, **args):
    params = {'nomad_addr': nomad['addr'], 'nomad_token': 'operator-token', 'state': 'drained'}
    params.update(args)
    return run_module('nomad_node_drain', params, nomad['tmp'], check_mode=check, diff=True,
                      env=dict(os.environ, NOMAD_TOKEN=''))


def calls(nomad):
    if not nomad['log'].exists():
        return []
    return [json.loads(line) for line in nomad['log'].read_text().splitlines()]


def test_drain_waits_for_the_allocations_to_move_then_eligible_restores(nomad):
    rc, result = drain(nomad, check=True)
    assert rc == 0 and result['changed'] is True, result
    assert result['diff']['before']['eligibility'] == 'eligible' and result['diff']['after']['eligibility'] == 'ineligible'
    assert calls(nomad) == []  # check mode sends no POST

    started = time.monotonic()
    rc, result = drain(nomad, deadline=600)
    assert rc == 0 and result['changed'] is True, result
    assert time.monotonic() - started >= 1.5  # it waited for the stand-in's drainer
    assert result['eligibility_before'] == 'eligible' and result['eligibility'] == 'ineligible'
    assert result['moved'] == ['default/minio.minio[0]', 'default/overseerr.overseerr[0]']
    assert result['remaining'] == []
    [call] = calls(nomad)
    assert call['path'].endswith('/drain')
    assert call['body']['DrainSpec'] == {'Deadline': 600 * 10 ** 9, 'IgnoreSystemJobs': True}
    assert call['body']['MarkEligible'] is False and 'reboot' in call['body']['Meta']['message']

    rc, again = drain(nomad)
    assert rc == 0 and again['changed'] is False and len(calls(nomad)) == 1

    params = {'nomad_addr': nomad['addr'], 'nomad_token': 'operator-token', 'state': 'eligible'}
    rc, result = run_module('nomad_node_drain', params, nomad['tmp'], check_mode=True)
    assert rc == 0 and result['changed'] is True and len(calls(nomad)) == 1
    rc, result = run_module('nomad_node_drain', params, nomad['tmp'])
    assert rc == 0 and result['changed'] is True and result['eligibility'] == 'eligible', result
    assert calls(nomad)[-1]['path'].endswith('/eligibility')
    assert calls(nomad)[-1]['body'] == {'Eligibility': 'eligible'}
    rc, result = run_module('nomad_node_drain', params, nomad['tmp'])
    assert rc == 0 and result['changed'] is False and len(calls(nomad)) == 2


def test_a_drain_that_does_not_finish_fails_naming_what_is_left(nomad):
    rc, result = drain(nomad, wait_timeout=1, ignore_system_jobs=False)
    assert rc != 0 and 'did not finish within 1 s' in result['msg'], result
    assert 'nomad node eligibility -enable' in result['msg']
    assert 'default/minio.minio[0]' in result['remaining']


def _statuses(nomad, node_id):
    client = nomad_api.NomadClient(nomad['addr'], token='operator-token')
    return dict((a['JobID'], a['ClientStatus']) for a in client.get('/v1/node/%s/allocations' % node_id))


def test_system_jobs_stay_unless_asked(nomad):
    rc, result = drain(nomad)
    assert rc == 0, result
    assert _statuses(nomad, result['node_id']) == {'minio': 'complete', 'overseerr': 'complete', 'node-exporter': 'running'}
    run_module('nomad_node_drain', {'nomad_addr': nomad['addr'], 'nomad_token': 'operator-token', 'state': 'eligible'},
               nomad['tmp'])
    rc, result = drain(nomad, ignore_system_jobs=False)
    assert rc == 0, result
    assert calls(nomad)[-1]['body']['DrainSpec']['IgnoreSystemJobs'] is False
    # a system job's allocation cannot move, so it is neither "moved" nor waited for; it stops
    assert result['moved'] == [] and result['remaining'] == []
    assert _statuses(nomad, result['node_id'])['node-exporter'] == 'complete'


def test_a_token_without_node_write_is_its_own_failure(nomad):
    rc, result = drain(nomad, nomad_token='reader-token')
    assert rc != 0 and '403 Forbidden' in result['msg'] and 'node:write' in result['msg'], result
    assert 'reader-token' not in json.dumps(result) and calls(nomad) == []
    rc, result = drain(nomad, nomad_token='nobody')
    assert rc != 0 and 'agent:read' in result['msg']


def test_bad_input_and_no_agent(nomad):
    rc, result = drain(nomad, deadline=0)
    assert rc != 0 and 'deadline must be at least 1 second' in result['msg']
    rc, result = drain(nomad, nomad_addr='http://127.0.0.1:%d' % _free_port(), nomad_timeout=2)
    assert rc != 0 and result['msg'].startswith('cannot drain the Nomad node through http://127.0.0.1:')
