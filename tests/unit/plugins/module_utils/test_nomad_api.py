# SPDX-License-Identifier: GPL-3.0-or-later
"""The Nomad client against the lab's Nomad stand-in over real HTTP, and its failures.

The stand-in (tests/standins/nomad_agent.py) implements the documented subset of the
Nomad HTTP API the client uses; Nomad itself cannot be installed on the test machines.
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

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _nomad_api as nomad_api

STANDINS = Path(__file__).resolve().parents[3] / 'standins'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _start(jobs: Path, *extra: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(STANDINS / 'nomad_agent.py'), '--node-name', 'hestia',
                             '--address', '127.0.0.1', '--jobs', str(jobs),
                             '--nomad-port', str(port), '--max-dynamic-port', '31000', '--reserved-ports', '22,80']
                            + list(extra))
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, 'http://127.0.0.1:%d' % port


@pytest.fixture(scope='module')
def nomad_standin():
    proc, url = _start(STANDINS / 'nomad_jobs.json')
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope='module')
def nomad_with_acls(tmp_path_factory):
    """Nomad with ACLs on and a job in a second namespace (media)."""
    fixture = json.loads((STANDINS / 'nomad_jobs.json').read_text())
    fixture['jobs'].append({'id': 'jellyfin', 'namespace': 'media', 'type': 'service',
                            'groups': [{'name': 'jellyfin', 'node': 'hestia',
                                        'ports': [{'label': 'http', 'value': 8096}]}]})
    path = tmp_path_factory.mktemp('nomad') / 'jobs.json'
    path.write_text(json.dumps(fixture))
    proc, url = _start(path, '--acl-token', 'reader-token')
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_summary_from_a_live_agent(nomad_standin):
    facts = nomad_api.summarize(nomad_api.NomadClient(nomad_standin, token='secret-token'))
    assert facts['reachable'] and facts['client_enabled']
    assert (facts['min_dynamic_port'], facts['max_dynamic_port']) == (20000, 31000)
    assert facts['reserved_ports'] == [[22, 22], [80, 80]]
    assert facts['bridge_subnet'] == '172.26.64.0/20'
    assert facts['leader'] == '127.0.0.1:4647'
    assert [j['id'] for j in facts['jobs']] == ['elasticsearch', 'gitlab', 'minio', 'overseerr', 'whoami']
    assert facts['jobs'][2]['running_allocations'] == ['minio']
    # Only this node's running allocations hold host ports here.
    assert [(p['port'], p['job']) for p in facts['host_ports']] == [(9000, 'minio'), (25123, 'overseerr')]


def test_unreachable_agent_raises_nomad_error():
    client = nomad_api.NomadClient('http://127.0.0.1:%d' % free_port(), timeout=2)
    with pytest.raises(nomad_api.NomadError) as err:
        nomad_api.summarize(client)
    assert 'GET http://127.0.0.1:' in str(err.value) and '/v1/agent/self failed' in str(err.value)


def test_unknown_path_is_an_error(nomad_standin):
    with pytest.raises(nomad_api.NomadError):
        nomad_api.NomadClient(nomad_standin).get('/v1/job/no-such-job/allocations')


class _Response:
    def __init__(self, body: bytes):
        self._body = body

    def read(self) -> bytes:
        return self._body


def test_token_header_and_invalid_json():
    seen = {}

    def opener(url, **kwargs):
        seen.update(kwargs['headers'])
        return _Response(b'<html>not json</html>')

    client = nomad_api.NomadClient('http://nomad:4646/', token='s3cr3t', opener=opener)
    with pytest.raises(nomad_api.NomadError) as err:
        client.get('/v1/jobs')
    assert 'returned invalid JSON' in str(err.value)
    assert seen['X-Nomad-Token'] == 's3cr3t'


def test_token_falls_back_to_environment(monkeypatch):
    monkeypatch.setenv('NOMAD_TOKEN', 'from-env')
    assert nomad_api.token_from({'nomad_token': None}) == 'from-env'
    assert nomad_api.token_from({'nomad_token': 'explicit'}) == 'explicit'


def test_allocated_host_ports_filters_node_and_status():
    allocs = [
        {'ClientStatus': 'running', 'NodeID': 'a', 'JobID': 'x',
         'AllocatedResources': {'Shared': {'Ports': [{'Label': 'http', 'Value': 25000, 'To': 80}]}}},
        {'ClientStatus': 'complete', 'NodeID': 'a', 'JobID': 'y',
         'AllocatedResources': {'Shared': {'Ports': [{'Label': 'http', 'Value': 25001}]}}},
        {'ClientStatus': 'running', 'NodeID': 'b', 'JobID': 'z',
         'AllocatedResources': {'Shared': {'Ports': [{'Label': 'http', 'Value': 25002}]}}},
        {'ClientStatus': 'running', 'NodeID': 'a', 'JobID': 'w'},
    ]
    assert nomad_api.allocated_host_ports(allocs, 'a') == [{'port': 25000, 'label': 'http', 'job': 'x', 'to': 80}]


def test_workload_differences_name_what_changed():
    before = {'jobs': [{'id': 'minio', 'running_allocations': ['minio']},
                       {'id': 'gitlab', 'running_allocations': ['gitlab']}],
              'host_ports': [{'port': 9000, 'job': 'minio'}]}
    same = {'jobs': list(reversed(before['jobs'])), 'host_ports': list(before['host_ports'])}
    assert nomad_api.workload_differences(before, same) == []
    after = {'jobs': [{'id': 'minio', 'running_allocations': []}, {'id': 'whoami', 'running_allocations': ['w']}],
             'host_ports': []}
    assert nomad_api.workload_differences(before, after) == [
        'job gitlab: gone',
        "job minio: {'id': 'minio', 'running_allocations': ['minio']} -> {'id': 'minio', 'running_allocations': []}",
        'job whoami: new',
        "host ports held by allocations: [(9000, 'minio')] -> []",
    ]


def test_forbidden_is_its_own_error_naming_the_capability(nomad_with_acls):
    for token in (None, 'wrong-token'):
        with pytest.raises(nomad_api.NomadForbidden) as err:
            nomad_api.summarize(nomad_api.NomadClient(nomad_with_acls, token=token))
        assert '403 Forbidden' in str(err.value) and 'agent:read' in str(err.value)
        assert 'wrong-token' not in str(err.value)


def test_every_namespace_is_read_and_compared(nomad_with_acls):
    facts = nomad_api.summarize(nomad_api.NomadClient(nomad_with_acls, token='reader-token'))
    assert [(j['namespace'], j['id']) for j in facts['jobs']][-1] == ('media', 'jellyfin')
    assert facts['jobs'][-1]['running_allocations'] == ['jellyfin']
    assert (8096, 'jellyfin') in [(p['port'], p['job']) for p in facts['host_ports']]
    after = {'jobs': [dict(j, running_allocations=[]) if j['id'] == 'jellyfin' else j for j in facts['jobs']],
             'host_ports': facts['host_ports']}
    assert [line.split(':')[0] for line in nomad_api.workload_differences(facts, after)] == ['job media/jellyfin']


def test_records_without_namespaces_compare_as_default():
    old = {'jobs': [{'id': 'minio', 'running_allocations': ['minio']}], 'host_ports': []}
    new = {'jobs': [{'id': 'minio', 'namespace': 'default', 'running_allocations': ['minio']}], 'host_ports': []}
    assert nomad_api.workload_differences(old, new) == []


@pytest.mark.parametrize('module', ['coexistence_preflight', 'nomad_workloads'])
def test_modules_fail_on_403_instead_of_falling_back(nomad_with_acls, tmp_path, module):
    sys.path.insert(0, str(STANDINS.parent))
    from modrun import run_module
    args = {'nomad_addr': nomad_with_acls, 'nomad_token': 'not-the-token'}
    if module == 'nomad_workloads':
        args.update(state='snapshot', path=str(tmp_path / 'record.json'))
    rc, result = run_module(module, args, tmp_path, env=dict(os.environ, NOMAD_TOKEN=''))
    assert rc != 0 and result.get('failed'), result
    assert '403 Forbidden' in result['msg'] and 'agent:read' in result['msg']
    assert 'not-the-token' not in json.dumps(result)


def _write(path, text):
    Path(path).write_text(text)


def test_workloads_record_is_taken_once_kept_and_compared(nomad_standin, tmp_path):
    record = tmp_path / 'nomad-workloads.json'

    def client():
        return nomad_api.NomadClient(nomad_standin)

    # check mode reads Nomad, reports the change and writes nothing
    first = nomad_api.workloads_record(client, nomad_standin, 'snapshot', str(record), False, True, _write)
    assert first['changed'] and not record.exists()
    first = nomad_api.workloads_record(client, nomad_standin, 'snapshot', str(record), False, False, _write)
    assert first['changed'] and [j['id'] for j in json.loads(record.read_text())['jobs']][0] == 'elasticsearch'
    # kept: Nomad is not even asked (an unreachable agent does not matter)
    kept = nomad_api.workloads_record(lambda: pytest.fail('Nomad asked'), 'x', 'snapshot', str(record), False, False,
                                      _write)
    assert not kept['changed'] and kept['msg'] == 'record kept: %s' % record
    same = nomad_api.workloads_record(client, nomad_standin, 'compare', str(record), False, False, _write)
    assert not same['changed'] and same['differences'] == []
    # a job gone from the record's view is named
    data = json.loads(record.read_text())
    data['jobs'].append({'id': 'nextcloud', 'namespace': 'default', 'running_allocations': ['nextcloud']})
    record.write_text(json.dumps(data))
    with pytest.raises(nomad_api.RecordError) as err:
        nomad_api.workloads_record(client, nomad_standin, 'compare', str(record), False, False, _write)
    assert 'job nextcloud: gone' in str(err.value) and err.value.result['differences']


def test_workloads_record_errors_name_the_agent_and_the_file(tmp_path):
    addr = 'http://127.0.0.1:%d' % free_port()
    with pytest.raises(nomad_api.RecordError) as err:
        nomad_api.workloads_record(lambda: nomad_api.NomadClient(addr, timeout=2), addr, 'compare',
                                   str(tmp_path / 'r.json'), False, False, _write)
    assert str(err.value).startswith('cannot ask the Nomad agent at %s: ' % addr)


def test_host_state_takes_both_records_in_one_call(nomad_standin, tmp_path):
    sys.path.insert(0, str(STANDINS.parent))
    from modrun import run_module
    host, nomad = tmp_path / 'host-state.json', tmp_path / 'nomad-workloads.json'
    args = {'state': 'snapshot', 'path': str(host), 'paths': [str(tmp_path / 'cni')],
            'nomad_workloads_path': str(nomad), 'nomad_addr': nomad_standin}
    rc, result = run_module('host_state', args, tmp_path)
    assert rc == 0 and result['changed'], result
    assert host.exists() and nomad.exists() and result['nomad_workloads']['changed']
    rc, result = run_module('host_state', args, tmp_path)
    assert rc == 0 and not result['changed'] and result['nomad_workloads']['msg'].startswith('record kept')
    data = json.loads(nomad.read_text())
    data['host_ports'] = []
    nomad.write_text(json.dumps(data))
    rc, result = run_module('host_state', dict(args, state='compare'), tmp_path)
    assert rc != 0 and 'host ports held by allocations' in result['msg'], result
    assert result['nomad_workloads']['differences']
    rc, result = run_module('host_state', dict(args, nomad_workloads_path=str(host)), tmp_path)
    assert rc != 0 and 'must differ from path' in result['msg']
