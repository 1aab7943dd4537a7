#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_service
short_description: Start or restart a K3s unit and wait, in the same task, until the node is Ready
version_added: 0.2.0
description:
  - Enables the unit, starts (O(state=started), only when it is not running) or restarts
    (O(state=restarted)) it without blocking on systemd, then waits at most O(timeout)
    seconds for the unit to be active - since this start, when it started one - and then
    for each of O(ready_checks) to print what it expects (at most O(timeout) seconds
    each).
  - The unit is C(Type=notify), and a K3s that cannot join (wrong token, server unreachable)
    never sends READY=1, so systemd alone would block for ever. On a timeout the module
    fails with the unit's state and the last O(journal_lines) lines of its journal, where
    K3s logs why.
  - Start, wait and readiness are one task so that C(throttle=1) on it restarts one node
    at a time, each Ready before the next is touched, while every other task of the play
    runs on all nodes at once.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
extends_documentation_fragment:
  - brmartin.k3s_migration.ready_checks
attributes:
  check_mode:
    support: full
    description: Reports whether the unit would be enabled, started or restarted; starts and waits for nothing.
  diff_mode:
    support: full
    description: Returns the unit's state and enablement before and after.
options:
  name:
    description: The systemd unit (C(k3s) or C(k3s-agent)).
    type: str
    required: true
  state:
    description:
      - C(started) starts the unit when it is not active (an active unit is only checked);
        C(restarted) always restarts it.
    type: str
    choices: [started, restarted]
    default: started
  daemon_reload:
    description: Run C(systemctl daemon-reload) first (the unit file changed).
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the unit to be active, and again for each readiness check.
    type: int
    default: 300
  node_name:
    description: The node's name, used in messages.
    type: str
    required: true
  journal_lines:
    description: How many of the unit's last journal lines a failure shows.
    type: int
    default: 30
seealso:
  - module: brmartin.k3s_migration.k3s_node_info
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Start the agent, then wait until the cluster lists it Ready
  brmartin.k3s_migration.k3s_service:
    name: k3s-agent
    node_name: nyx
    timeout: 300
    ready_checks:
      - argv: [k3s, kubectl, --kubeconfig, /var/lib/rancher/k3s/agent/kubelet.kubeconfig,
               get, node, nyx, -o, 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']
        expect: "True"
        what: the node Ready

- name: Restart one node at a time (a handler)
  brmartin.k3s_migration.k3s_service:
    name: k3s
    state: restarted
    daemon_reload: true
    node_name: hestia
  throttle: 1
"""

RETURN = r"""
before:
  description: The unit's properties before (C(systemctl show)).
  returned: always
  type: dict
  sample: {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "UnitFileState": "enabled",
           "ActiveEnterTimestampMonotonic": "5123456789", "Result": "success", "NRestarts": "0"}
after:
  description: The unit's properties after (the same as RV(before) in check mode).
  returned: always
  type: dict
  sample: {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "UnitFileState": "enabled",
           "ActiveEnterTimestampMonotonic": "6234567890", "Result": "success", "NRestarts": "0"}
actions:
  description: What was done (or in check mode would be), in order.
  returned: always
  type: list
  elements: str
  sample: ["daemon-reload", "enable", "restart"]
waited:
  description: Seconds spent waiting for the unit and the readiness checks.
  returned: always
  type: float
  sample: 14.2
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_node as node


def describe(state: dict) -> str:
    return '%s (%s), %s\n' % (state.get('ActiveState', 'unknown'), state.get('SubState', ''),
                              state.get('UnitFileState', '') or 'not installed')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', choices=['started', 'restarted'], default='started'),
            daemon_reload=dict(type='bool', default=False),
            timeout=dict(type='int', default=300),
            node_name=dict(type='str', required=True),
            ready_checks=node.READY_CHECKS_ARGSPEC,
            journal_lines=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p['name']

    def show() -> dict:
        try:
            return node.unit_state(module.run_command, name)
        except RuntimeError as exc:
            module.fail_json(msg=str(exc))

    def systemctl(*args: str) -> None:
        rc, out, err = module.run_command(['systemctl'] + list(args))
        if rc != 0:
            detail = (err or out).strip()
            module.fail_json(msg='systemctl %s failed on %s (rc %d): %s' % (' '.join(args), p['node_name'], rc, detail),
                             rc=rc, stdout=out, stderr=err)

    def journal() -> str:
        rc, out, err = module.run_command(['journalctl', '--unit', name, '--lines', str(p['journal_lines']),
                                           '--no-pager'])
        return (out + err).strip()

    if p['daemon_reload'] and not module.check_mode:
        systemctl('daemon-reload')
    before = show()
    actions = ['daemon-reload'] if p['daemon_reload'] else []
    if before.get('LoadState') == 'not-found' and module.check_mode:
        actions += ['enable', 'start']
    else:
        if before.get('UnitFileState') != 'enabled':
            actions.append('enable')
        if p['state'] == 'restarted':
            actions.append('restart')
        elif before.get('ActiveState') not in node.ACTIVE_STATES:
            actions.append('start')
    changed = any(a != 'daemon-reload' for a in actions)
    result = dict(changed=changed, before=before, after=before, actions=actions, waited=0.0)
    if module._diff and changed:
        result['diff'] = {'before_header': '%s on %s' % (name, p['node_name']), 'after_header': ', '.join(actions),
                          'before': describe(before),
                          'after': describe(dict(before, ActiveState='active', UnitFileState='enabled'))}
    if module.check_mode:
        module.exit_json(**result)

    if 'enable' in actions:
        systemctl('enable', name)
    since = ''
    if 'restart' in actions or 'start' in actions:
        since = before.get('ActiveEnterTimestampMonotonic', '0')
        systemctl('restart' if 'restart' in actions else 'start', '--no-block', name)

    started = time.monotonic()
    last = {}

    def unit_ready() -> tuple:
        last.update(show())
        return node.is_active_since(last, since), last

    done, state = node.wait_until(unit_ready, p['timeout'])
    result['after'] = dict(state)
    if not done:
        result['waited'] = round(time.monotonic() - started, 1)
        module.fail_json(
            msg='%s on %s did not become active within %d s (%s); systemd keeps retrying it (Restart=always).\n'
                'Last lines of journalctl -u %s:\n%s'
                % (name, p['node_name'], p['timeout'],
                   ', '.join('%s=%s' % (k, state.get(k, '')) for k in ('ActiveState', 'SubState', 'Result', 'NRestarts')),
                   name, journal()),
            **result)

    for check in p['ready_checks']:
        done, answer = node.wait_until(lambda check=check: node.ready_check(module.run_command, check), p['timeout'])
        if not done:
            result['waited'] = round(time.monotonic() - started, 1)
            module.fail_json(
                msg='%s: not %s after %d s (%s).\nLast lines of journalctl -u %s on %s:\n%s'
                    % (p['node_name'], check['what'], p['timeout'],
                       node.ready_failure(check, answer),
                       name, p['node_name'], journal()),
                rc=answer['rc'], stdout=answer['stdout'], stderr=answer['stderr'], **result)
    result['waited'] = round(time.monotonic() - started, 1)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
