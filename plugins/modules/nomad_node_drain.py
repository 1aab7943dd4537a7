#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nomad_node_drain
short_description: Drain this host's Nomad node before a reboot, and make it eligible again after
version_added: 0.2.0
description:
  - O(state=drained) drains the Nomad client node of the agent at O(nomad_addr) (or
    O(node_id)) through the Nomad API (C(POST /v1/node/:id/drain)) and waits until the
    drain has finished and no allocation of a service or batch job is left running on it
    - what C(nomad node drain -enable -self) does. System jobs stay by default
    (O(ignore_system_jobs)) - they run on every node and come back with it.
  - O(state=eligible) makes the node eligible for scheduling again, cancelling a drain
    still running (C(nomad node eligibility -enable -self)).
  - Returns the node's eligibility before the call, so a caller can give back exactly what
    it found (a node the operator had marked ineligible stays so).
  - A 403 names the ACL capability the token lacks (C(node:write) for the change,
    C(node:read) and C(agent:read) for the reading).
author:
  - brmartin.k3s_migration maintainers (@brmartin)
extends_documentation_fragment:
  - brmartin.k3s_migration.nomad
attributes:
  check_mode:
    support: full
    description: Reads the node and reports whether it would change; sends no C(POST).
  diff_mode:
    support: full
    description: The node's eligibility and drain before and after.
options:
  state:
    description: V(drained) - ineligible, its allocations moved away; V(eligible) - open to new allocations.
    type: str
    choices: [drained, eligible]
    required: true
  node_id:
    description: The Nomad node's ID; the agent's own node (C(stats.client.node_id) of C(/v1/agent/self)) when empty.
    type: str
  deadline:
    description:
      - Seconds Nomad gives the allocations to migrate before it stops them (the drain's
        deadline, C(-deadline)).
    type: int
    default: 3600
  ignore_system_jobs:
    description: Leave the allocations of system jobs in place (C(-ignore-system)).
    type: bool
    default: true
  wait_timeout:
    description:
      - With O(state=drained), seconds to wait for the drain to finish and the
        allocations to leave; the module fails, naming what is left, when they have not.
        V(0) waits O(deadline) plus 60 seconds.
    type: int
    default: 0
  reason:
    description: Recorded with the drain (its C(Meta.message)), so the operator sees why the node drains.
    type: str
    default: brmartin.k3s_migration drains this node for a reboot
notes:
  - The reboot itself is the caller's (the k3s role drains, reboots, waits for the node and
    only then makes it eligible again, one node at a time).
seealso:
  - module: brmartin.k3s_migration.nomad_workloads
"""

EXAMPLES = r"""
- name: Drain this Pi's Nomad node before rebooting it
  brmartin.k3s_migration.nomad_node_drain:
    state: drained
    deadline: 1800
  register: drain

- name: Reboot
  ansible.builtin.reboot:

- name: Open the node to allocations again, unless the operator had closed it
  brmartin.k3s_migration.nomad_node_drain:
    state: eligible
  when: drain.eligibility_before == 'eligible'
"""

RETURN = r"""
node_id:
  description: The Nomad node's ID.
  returned: always
  type: str
  sample: 4c9b6b8e-5a7e-5bf1-9a43-0a0b8e1f1c2d
node_name:
  description: The Nomad node's name.
  returned: always
  type: str
  sample: heracles
eligibility_before:
  description: The node's scheduling eligibility before the call (V(eligible) or V(ineligible)).
  returned: always
  type: str
  sample: eligible
eligibility:
  description: The node's scheduling eligibility after the call (as it would be, in check mode).
  returned: always
  type: str
  sample: ineligible
moved:
  description: Allocations (namespace/name) running on the node before the drain and gone from it after.
  returned: always
  type: list
  elements: str
  sample: ["default/gitlab.gitlab[0]"]
remaining:
  description: Allocations of service or batch jobs still running on the node after the call.
  returned: always
  type: list
  elements: str
  sample: []
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _nomad_api as nomad_api


def _summary(state: dict) -> dict:
    return {'eligibility': state['eligibility'], 'draining': state['draining'],
            'allocations': state['allocations']}


def main():
    spec = dict(nomad_api.NOMAD_ARGSPEC)
    spec.update(
        state=dict(type='str', choices=['drained', 'eligible'], required=True),
        node_id=dict(type='str'),
        deadline=dict(type='int', default=3600),
        ignore_system_jobs=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=0),
        reason=dict(type='str', default='brmartin.k3s_migration drains this node for a reboot'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p['deadline'] < 1 or p['wait_timeout'] < 0:
        module.fail_json(msg='deadline must be at least 1 second and wait_timeout 0 or more (got %d and %d)'
                         % (p['deadline'], p['wait_timeout']))
    client = nomad_api.NomadClient.from_params(p)
    try:
        node_id = p['node_id'] or ((client.get('/v1/agent/self').get('stats') or {}).get('client') or {}).get('node_id')
        if not node_id:
            module.fail_json(msg='the Nomad agent at %s runs no client (no stats.client.node_id): there is no node '
                             'to drain; give node_id' % client.addr)
        before = nomad_api.node_state(client, node_id)
        after = dict(before)
        changed = False
        if p['state'] == 'drained':
            if before['eligibility'] != 'ineligible' or before['allocations'] or before['draining']:
                changed = before['eligibility'] != 'ineligible' or bool(before['allocations'])
                if not module.check_mode:
                    if not before['draining']:
                        nomad_api.drain(client, node_id, p['deadline'], p['ignore_system_jobs'], p['reason'])
                    timeout = p['wait_timeout'] or p['deadline'] + 60
                    deadline = time.monotonic() + timeout
                    while True:
                        after = nomad_api.node_state(client, node_id)
                        if not after['draining'] and not after['allocations']:
                            break
                        if time.monotonic() > deadline:
                            module.fail_json(
                                msg='the drain of Nomad node %s (%s) did not finish within %d s: still %s, '
                                    'allocations on it: %s. See `nomad node status -verbose %s`; the node stays '
                                    'ineligible (`nomad node eligibility -enable %s` opens it again)'
                                    % (before['name'], node_id, timeout,
                                       'draining' if after['draining'] else 'not draining',
                                       ', '.join(after['allocations']) or 'none', node_id, node_id),
                                changed=True, node_id=node_id, node_name=before['name'],
                                eligibility_before=before['eligibility'], eligibility=after['eligibility'],
                                moved=sorted(set(before['allocations']) - set(after['allocations'])),
                                remaining=after['allocations'])
                        time.sleep(1)
                else:
                    after = dict(before, eligibility='ineligible', draining=False, allocations=[])
        else:
            if before['eligibility'] != 'eligible' or before['draining']:
                changed = True
                if module.check_mode:
                    after = dict(before, eligibility='eligible', draining=False)
                else:
                    if before['draining']:
                        nomad_api.end_drain(client, node_id)
                    else:
                        nomad_api.set_eligibility(client, node_id, True)
                    after = nomad_api.node_state(client, node_id)
                    if after['eligibility'] != 'eligible':
                        module.fail_json(msg='Nomad node %s (%s) is still %s after the eligibility call'
                                         % (before['name'], node_id, after['eligibility']))
    except nomad_api.NomadForbidden as exc:
        module.fail_json(msg=str(exc))
    except nomad_api.NomadError as exc:
        module.fail_json(msg='cannot %s the Nomad node through %s: %s'
                         % ('drain' if p['state'] == 'drained' else 'make eligible', client.addr, exc))
    result = dict(changed=changed, node_id=node_id, node_name=before['name'],
                  eligibility_before=before['eligibility'], eligibility=after['eligibility'],
                  moved=sorted(set(before['allocations']) - set(after['allocations'])),
                  remaining=after['allocations'])
    if module._diff:
        result['diff'] = dict(before=_summary(before), after=_summary(after))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
