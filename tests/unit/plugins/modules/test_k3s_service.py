# SPDX-License-Identifier: GPL-3.0-or-later
"""k3s_service run as Ansible runs it, against a MOCK systemctl/journalctl on PATH (this
machine's PID 1 is not systemd): the mock keeps the unit's properties in a JSON file, and
a start or restart makes it active with a new ActiveEnterTimestampMonotonic - or, when the
test says so, leaves it activating for ever, as a K3s that cannot join does."""

from __future__ import annotations

import json
import os
import stat
import sys

from modrun import run_module

MOCK = r'''#!PYTHON
import json, os, sys
state_file = os.environ['MOCK_UNIT_STATE']
st = json.load(open(state_file))
with open(state_file + '.calls', 'a') as log:
    log.write(' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:]) + '\n')
args = [a for a in sys.argv[1:] if a != '--no-block']
if os.path.basename(sys.argv[0]) == 'journalctl':
    print('level=error msg="Failed to validate connection to cluster at https://10.0.0.1:6443: 401"')
    sys.exit(0)
if args[0] == 'show':
    for key in args[1].split('=', 1)[1].split(','):
        print('%s=%s' % (key, st.get(key, '')))
elif args[0] in ('start', 'restart'):
    if st['behaviour'] == 'joins':
        st.update(ActiveState='active', SubState='running', LoadState='loaded',
                  ActiveEnterTimestampMonotonic=str(int(st.get('ActiveEnterTimestampMonotonic', '0')) + 1000))
    else:
        st.update(ActiveState='activating', SubState='start')
elif args[0] == 'enable':
    st['UnitFileState'] = 'enabled'
json.dump(st, open(state_file, 'w'))
'''


def _mock(tmp_path, **unit):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for name in ('systemctl', 'journalctl'):
        path = bindir / name
        path.write_text(MOCK.replace('PYTHON', sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / 'unit.json'
    defaults = {'LoadState': 'loaded', 'ActiveState': 'inactive', 'SubState': 'dead', 'UnitFileState': 'disabled',
                'ActiveEnterTimestampMonotonic': '0', 'Result': 'success', 'NRestarts': '0', 'behaviour': 'joins'}
    state.write_text(json.dumps(dict(defaults, **unit)))
    env = dict(os.environ, PATH='%s:%s' % (bindir, os.environ['PATH']), MOCK_UNIT_STATE=str(state))
    return env, state


def _calls(state) -> list:
    path = str(state) + '.calls'
    return open(path).read().splitlines() if os.path.exists(path) else []


READY = [{'argv': ['sh', '-c', 'echo True'], 'expect': 'True', 'what': 'Ready in the cluster'}]
ARGS = {'name': 'k3s-agent', 'node_name': 'nyx', 'timeout': 3, 'ready_checks': READY}


def test_a_stopped_unit_is_enabled_started_and_waited_for(tmp_path):
    env, state = _mock(tmp_path)
    rc, result = run_module('k3s_service', dict(ARGS, daemon_reload=True), tmp_path, env=env, diff=True)
    assert rc == 0, result
    assert result['changed'] is True
    assert result['actions'] == ['daemon-reload', 'enable', 'start']
    assert result['after']['ActiveState'] == 'active'
    assert result['diff']['before'].startswith('inactive')
    assert 'systemctl start --no-block k3s-agent' in _calls(state)


def test_a_running_unit_is_only_checked(tmp_path):
    env, state = _mock(tmp_path, ActiveState='active', UnitFileState='enabled', ActiveEnterTimestampMonotonic='50')
    rc, result = run_module('k3s_service', ARGS, tmp_path, env=env)
    assert rc == 0, result
    assert result['changed'] is False and result['actions'] == []
    assert not [c for c in _calls(state) if c.split()[1] in ('start', 'restart', 'enable')]


def test_a_restart_waits_for_the_new_start(tmp_path):
    env, state = _mock(tmp_path, ActiveState='active', UnitFileState='enabled', ActiveEnterTimestampMonotonic='50')
    rc, result = run_module('k3s_service', dict(ARGS, state='restarted'), tmp_path, env=env)
    assert rc == 0, result
    assert result['changed'] is True and result['actions'] == ['restart']
    assert result['before']['ActiveEnterTimestampMonotonic'] == '50'
    assert result['after']['ActiveEnterTimestampMonotonic'] == '1050'


def test_a_unit_that_never_becomes_active_fails_in_time_with_its_journal(tmp_path):
    env, _state = _mock(tmp_path, behaviour='stuck')
    rc, result = run_module('k3s_service', dict(ARGS, timeout=2), tmp_path, env=env)
    assert rc != 0
    assert result['msg'].startswith('k3s-agent on nyx did not become active within 2 s (ActiveState=activating')
    assert 'Failed to validate connection to cluster at https://10.0.0.1:6443: 401' in result['msg']
    assert 2 <= result['waited'] < 10


def test_a_node_that_never_gets_ready_fails_naming_the_check(tmp_path):
    env, _state = _mock(tmp_path)
    checks = [{'argv': ['sh', '-c', 'echo False'], 'expect': 'True', 'what': 'Ready in the cluster'}]
    rc, result = run_module('k3s_service', dict(ARGS, timeout=2, ready_checks=checks), tmp_path, env=env)
    assert rc != 0
    assert result['msg'].startswith("nyx: not Ready in the cluster after 2 s (got 'False', want 'True')")
    assert 'Last lines of journalctl -u k3s-agent on nyx' in result['msg']


def test_check_mode_starts_nothing(tmp_path):
    env, state = _mock(tmp_path, LoadState='not-found', UnitFileState='')
    rc, result = run_module('k3s_service', ARGS, tmp_path, env=env, check_mode=True)
    assert rc == 0, result
    assert result['changed'] is True and result['actions'] == ['enable', 'start']
    assert [c.split()[1] for c in _calls(state)] == ['show']
