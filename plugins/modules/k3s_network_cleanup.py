#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_network_cleanup
short_description: Remove K3s's iptables chains, interfaces and network namespaces, and nothing of Nomad's
version_added: 0.1.0
description:
  - Removes what K3s's networking leaves on a host once K3s is stopped - C(KUBE-*) and
    C(FLANNEL*) chains, the C(CNI-*) chains of K3s's own CNI network (O(cni_network),
    C(cbr0)) and every rule that jumps to them or carries K3s's CNI or flannel comments,
    the C(cni0)/C(flannel.*) interfaces and the network namespaces of its pods.
  - Unlike C(k3s-killall.sh), it keeps every other C(CNI-*) chain (Nomad's bridge
    networking publishes ports and masquerades through them) and the shared
    C(CNI-HOSTPORT-*) chains, removing only K3s's rules inside them.
  - K3s's pod network namespaces are found from state, not by their C(cni-) prefix (podman
    and Nomad use it too) - the libcni result cache files of network O(cni_network) in
    O(cni_cache_dir)C(/results) record each pod's namespace (C(netns), libcni 1.1 and
    later) - plus O(netns). The module fails when one is still mounted after deletion.
  - Where iptables cannot be used, the iptables part is skipped, reported in RV(skipped)
    and warned about; so are cache files of O(cni_network) that name no namespace.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: Reports what would be removed without removing it.
  diff_mode:
    support: full
    description: The removed rules, chains, interfaces and namespaces as a diff.
options:
  cni_network:
    description: Name of K3s's CNI network (the C(name) in its CNI config; C(cbr0) for flannel).
    type: str
    default: cbr0
  cluster_cidr:
    description:
      - K3s's pod network(s), comma separated. A C(CNI-*) chain whose rules point into it is
        K3s's even when the rule that jumped to it is gone. Must not overlap Nomad's bridge
        network (the preflight guarantees it).
    type: str
    default: 10.42.0.0/16
  interfaces:
    description: Interfaces K3s creates, deleted when present.
    type: list
    elements: str
    default: [cni0, flannel.1, flannel-v6.1, flannel-wg, flannel-wg-v6, kube-ipvs0]
  cni_cache_dir:
    description: libcni's cache directory; its C(results) files of O(cni_network) name K3s's pod namespaces.
    type: path
    default: /var/lib/cni
  netns:
    description: Further network namespaces (names or C(/run/netns/NAME) paths) known to be K3s's, deleted when present.
    type: list
    elements: str
    default: []
seealso:
  - module: brmartin.k3s_migration.host_state
"""

EXAMPLES = r"""
- name: Remove K3s's network state, sparing Nomad's CNI chains
  brmartin.k3s_migration.k3s_network_cleanup:
  register: cleanup

- name: Show what went
  ansible.builtin.debug:
    var: cleanup.removed
"""

RETURN = r"""
removed:
  description: What was (or in check mode would be) removed.
  returned: always
  type: dict
  sample:
    rules: ["ipv4 filter/FORWARD: -A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD"]
    chains: ["ipv4 nat/KUBE-SERVICES"]
    interfaces: ["cni0", "flannel.1"]
    netns: ["cni-4b1d7e0a-2c1f-5b3e-9d8a-6f0e1c2b3a4d"]
kept_cni_chains:
  description: C(CNI-*) chains left in place because they belong to another CNI user (Nomad).
  returned: always
  type: list
  elements: str
  sample: ["ipv4 nat/CNI-DN-5a3f1e0c2b9d4e7f8a1b2"]
skipped:
  description: Parts that could not be handled here, with the reason.
  returned: always
  type: dict
  sample: {"ipv4": "iptables-save: Failed to initialize nft: Protocol not supported"}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_cleanup as cleanup
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_runtime as runtime
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse

FAMILIES = (('ipv4', 'iptables-save', 'iptables'), ('ipv6', 'ip6tables-save', 'ip6tables'))
NETNS_DIR = '/run/netns'


def mounted_netns(names: list) -> list:
    with open('/proc/self/mounts') as handle:
        points = runtime.parse_mounts(handle.read())
    return [n for n in names if os.path.join(NETNS_DIR, n) in points or os.path.join('/var/run/netns', n) in points]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cni_network=dict(type='str', default='cbr0'),
            cluster_cidr=dict(type='str', default='10.42.0.0/16'),
            interfaces=dict(type='list', elements='str', default=list(cleanup.K3S_INTERFACES)),
            cni_cache_dir=dict(type='path', default='/var/lib/cni'),
            netns=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        cluster_nets = [str(netparse.parse_network(c)) for c in params['cluster_cidr'].split(',')]
    except netparse.ParseError as exc:
        module.fail_json(msg='cluster_cidr: %s' % exc)
    removed = {'rules': [], 'chains': [], 'interfaces': [], 'netns': []}
    kept = []
    skipped = {}
    commands = []

    for family, save, binary in FAMILIES:
        save_bin = module.get_bin_path(save)
        if not save_bin:
            skipped[family] = '%s is not installed' % save
            continue
        rc, out, err = module.run_command([save_bin], environ_update={'LC_ALL': 'C'})
        if rc != 0:
            skipped[family] = (err or out).strip() or '%s exited %d' % (save, rc)
            continue
        try:
            tables = netparse.parse_iptables_save(out)
        except netparse.ParseError as exc:
            module.fail_json(msg='cannot parse %s output: %s' % (save, exc))
        plan = cleanup.plan_iptables(tables, params['cni_network'], cluster_nets)
        removed['rules'].extend('%s %s/%s: %s' % (family, t, c, r) for t, c, r in plan['rules'])
        removed['chains'].extend('%s %s/%s' % (family, t, c) for t, c in plan['chains'])
        doomed = set(plan['chains'])
        kept.extend('%s %s/%s' % (family, t, c) for t in sorted(tables) for c in sorted(tables[t])
                    if c.startswith('CNI-') and (t, c) not in doomed)
        commands.extend(cleanup.delete_commands(module.get_bin_path(binary, required=True), plan))

    rc, out, err = module.run_command(['ip', '-j', 'link', 'show'])
    if rc != 0:
        module.fail_json(msg='cannot list interfaces: %s' % (err or out).strip(), rc=rc, stderr=err)
    present = set(link.get('ifname') for link in json.loads(out or '[]'))
    for name in params['interfaces']:
        if name in present:
            removed['interfaces'].append(name)
            commands.append(['ip', 'link', 'delete', name])

    # Pods' namespaces first: their veth ends go with them, before cni0 does.
    removed['netns'], warnings = cleanup.k3s_netns_names(os.path.join(params['cni_cache_dir'], 'results'),
                                                         params['cni_network'], params['netns'], NETNS_DIR)
    for warning in warnings:
        module.warn(warning)
    commands = [['ip', 'netns', 'delete', name] for name in removed['netns']] + commands

    for family, reason in sorted(skipped.items()):
        module.warn('iptables cleanup skipped for %s (%s): K3s\'s KUBE-*, FLANNEL* and CNI chains of %s, if any, '
                    'are left in place' % (family, reason, params['cni_network']))

    changed = any(removed.values())
    result = dict(changed=changed, removed=removed, kept_cni_chains=kept, skipped=skipped)
    if module._diff and changed:
        lines = ['%s: %s' % (kind, item) for kind in ('netns', 'interfaces', 'rules', 'chains') for item in removed[kind]]
        result['diff'] = {'before_header': 'K3s network state', 'after_header': 'after cleanup',
                          'before': '\n'.join(lines) + '\n', 'after': ''}
    if changed and not module.check_mode:
        for argv in commands:
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(msg='command failed while removing K3s network state: %s' % ' '.join(argv),
                                 rc=rc, stdout=out, stderr=err, **result)
        left = mounted_netns(removed['netns'])
        if left:
            module.fail_json(msg='K3s pod network namespaces still mounted after deletion: %s' % ', '.join(left),
                             **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
