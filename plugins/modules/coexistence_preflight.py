#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: coexistence_preflight
short_description: Find every conflict K3s would have with Nomad, Consul and the edge on a host
version_added: 0.1.0
description:
  - Reads the host without changing it - listening sockets and their owning processes,
    addresses and routes, iptables and nftables chains (including the CNI portmap DNAT
    rules Nomad's bridge networking uses, which no process listens on), resolv.conf,
    memory and CPU, kernel modules and sysctls, the memory cgroup controller, firewalld
    zones, the filesystem under the K3s data directory - and the local Nomad agent's
    configuration and allocations through its HTTP API.
  - Compares that with the planned K3s settings and returns every conflict, one line
    each, naming the port, CIDR or process and the fix. Softer findings are warnings.
  - Fails when there is any conflict, unless O(fail_on_conflict=false).
author:
  - brmartin.k3s_migration maintainers (@brmartin)
extends_documentation_fragment:
  - brmartin.k3s_migration.nomad
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options:
  k3s_ports:
    description:
      - Host ports K3s will bind on this node, as V(PORT), V(PORT/PROTO) or V(LOW-HIGH/PROTO).
      - Servers need the API (6443), the supervisor's internal 6444, the kubelet (10250) and,
        with embedded etcd, 2379-2380; every node needs 8472/udp for flannel VXLAN.
    type: list
    elements: str
    default: ['6443/tcp', '6444/tcp', '10010/tcp', '10248/tcp', '10249/tcp', '10250/tcp', '10256/tcp',
              '10257/tcp', '10258/tcp', '10259/tcp', '8472/udp']
  firewalld_ports:
    description:
      - The ports the K3s stage opens to the whole firewalld zone - checked in the zone of
        RV(firewalld_zone) besides O(node_port_range). Loopback-only ports such as the
        kubelet's healthz are bound (O(k3s_ports)) but never opened; the cluster-internal ones
        (VXLAN, the kubelet, etcd) are opened to the node addresses only, by rich rules, and
        are not checked here. Empty means O(k3s_ports).
    type: list
    elements: str
    default: []
  cluster_cidr:
    description: Planned pod network(s), comma separated for dual stack.
    type: str
    default: 10.42.0.0/16
  service_cidr:
    description: Planned service network(s), comma separated for dual stack.
    type: str
    default: 10.43.0.0/16
  node_port_range:
    description:
      - Planned NodePort range, V(LOW-HIGH). K3s's own default 30000-32767 overlaps Nomad's
        default dynamic port range 20000-32000.
    type: str
    default: 30000-32767
  flannel_backend:
    description: Planned flannel backend (V(none) when another CNI is brought).
    type: str
    default: vxlan
  disable_bundled_traefik:
    description: Whether the plan disables K3s's bundled Traefik (needed while another proxy owns 80/443).
    type: bool
    default: true
  disable_servicelb:
    description: Whether the plan disables ServiceLB (klipper-lb binds host ports of LoadBalancer services).
    type: bool
    default: true
  resolv_conf:
    description:
      - The resolv.conf K3s will hand to pods (K3s C(--resolv-conf)). Empty means K3s's own
        choice, which fails for a loopback forwarder such as Consul DNS.
    type: path
  min_free_memory_mb:
    description: Memory (MemAvailable) that must be free before K3s is added, in MB.
    type: int
    default: 512
  data_dir:
    description: Planned K3s data directory.
    type: path
    default: /var/lib/rancher/k3s
  shared_data_dirs:
    description:
      - Directories of container engines and CI runners; sharing a filesystem with
        O(data_dir) is reported as a warning.
    type: list
    elements: path
    default: [/var/lib/docker, /var/lib/containers, /var/lib/nomad, /opt/nomad/data, /var/lib/gitlab-runner]
  boot_cmdline_managed:
    description:
      - Whether the K3s stage will fix a disabled memory cgroup itself (edit the Raspberry Pi
        C(cmdline.txt) and reboot). Then a disabled memory cgroup on a board with a
        C(cmdline.txt) is a warning instead of a conflict.
    type: bool
    default: false
  node_address:
    description:
      - The node's address for K3s (K3s's C(node-ip)); empty means the address K3s picks
        itself, on the default route's interface. Chooses the firewalld zone checked.
    type: str
    default: ''
  firewalld_zone:
    description:
      - The firewalld zone the K3s stage opens its ports in. Empty chooses it as the k3s role
        does - the zone of the interface carrying O(node_address), else the default zone -
        and returns it as RV(firewalld_zone).
    type: str
    default: ''
  query_nomad:
    description: Whether to ask the Nomad agent for its port ranges, bridge subnet and allocations.
    type: bool
    default: true
  fail_on_conflict:
    description: Fail the task when any conflict is found. With V(false) the conflicts are only returned.
    type: bool
    default: true
  gather_subset:
    description:
      - Fact subsets (as M(ansible.builtin.setup) takes them, for instance V(platform), V(distribution),
        V(selinux)) to return as C(ansible_facts), collected by Ansible's own fact collectors in the
        same call, so a later play needs no M(ansible.builtin.setup) round trip.
      - Only the subsets named are collected (as with V(!all) and V(!min)). Empty (the default)
        returns no facts.
    type: list
    elements: str
    default: []
notes:
  - Where iptables cannot be used (for instance an emulated arm64 container), the module
    reports C(iptables unavailable) as a warning instead of failing.
seealso:
  - module: brmartin.k3s_migration.host_state
  - name: K3s requirements
    description: Ports and OS requirements of K3s.
    link: https://docs.k3s.io/installation/requirements
"""

EXAMPLES = r"""
- name: Check the host against the planned K3s settings
  brmartin.k3s_migration.coexistence_preflight:
    cluster_cidr: 10.42.0.0/16
    service_cidr: 10.43.0.0/16
    node_port_range: 32100-32767
    nomad_addr: http://127.0.0.1:4646
  register: preflight

- name: Only report, let the play decide
  brmartin.k3s_migration.coexistence_preflight:
    node_port_range: 30000-32767
    fail_on_conflict: false
  register: preflight

- name: Show the conflicts
  ansible.builtin.debug:
    var: preflight.conflicts
"""

RETURN = r"""
conflicts:
  description: One line per conflict, naming the port, CIDR or process and the fix.
  returned: always
  type: list
  elements: str
  sample: ["port 6443/tcp, which K3s needs (6443/tcp), is already used by python3 (pid 81) on *: stop or move that service, or change the K3s port plan"]
warnings_found:
  description: Advisory findings (firewalld openings still to make, missing modules, iptables unavailable).
  returned: always
  type: list
  elements: str
  sample: ["firewalld zone public does not allow 6443/tcp yet: the k3s stage opens it permanently"]
firewalld_zone:
  description:
    - The firewalld zone checked for the K3s ports (C(name)), the interface it was chosen by
      (C(interface)) and why (C(reason)). Empty C(name) when firewalld is not running.
  returned: always
  type: dict
  sample: {"name": "FedoraServer", "interface": "enp1s0", "reason": "the zone of enp1s0 (enp1s0 has the default route)"}
ports:
  description: Host ports held by something other than K3s (sockets, CNI portmap DNAT, Nomad allocations).
  returned: always
  type: list
  elements: dict
  sample: [{"port": 9000, "proto": "tcp", "owner": "python3 (pid 80) on *", "source": "socket"}]
arch:
  description: K3s architecture name of this host.
  returned: always
  type: str
  sample: arm64
nomad:
  description:
    - What the Nomad agent reported (jobs of every namespace); C(reachable=false) with C(error)
      when it could not be reached. A 403 (ACLs on, the token lacks C(agent:read) or
      C(namespace:read-job)) fails the module instead, naming the capability.
  returned: always
  type: dict
  sample: {"reachable": true, "min_dynamic_port": 20000, "max_dynamic_port": 32000, "bridge_subnet": "172.26.64.0/20", "jobs": []}
ansible_facts:
  description: The facts of O(gather_subset), as M(ansible.builtin.setup) returns them.
  returned: when O(gather_subset) is not empty
  type: dict
  sample: {"architecture": "aarch64", "os_family": "RedHat", "distribution": "Fedora", "nodename": "heracles"}
host:
  description: >-
    Facts read from the host - C(cpus), C(memory), C(interfaces), C(routes),
    C(iptables) (availability, mode, chain names), C(nft), C(resolv), C(kernel),
    C(cgroups), C(firewalld), C(storage).
  returned: always
  type: dict
  sample: {"cpus": 4, "memory": {"total_mb": 7940, "available_mb": 5100}, "cgroups": {"memory": true}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.facts import ansible_collector, default_collectors
from ansible.module_utils.facts.namespace import PrefixFactNamespace

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hostfacts as hostfacts
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _nomad_api as nomad_api
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _preflight as preflight

KERNEL_MODULES = ['br_netfilter', 'overlay']
SYSCTLS = ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables']


def _ansible_facts(module, subset):
    """The facts setup would return for gather_subset=subset (its collectors, its namespace)."""
    try:
        collector = ansible_collector.get_ansible_collector(
            all_collector_classes=default_collectors.collectors,
            namespace=PrefixFactNamespace(namespace_name='ansible', prefix='ansible_'),
            gather_subset=subset, gather_timeout=10, minimal_gather_subset=frozenset())
    except Exception as exc:  # pylint: disable=broad-except
        # unknown subset names and collector dependency errors, as setup reports them
        module.fail_json(msg='gather_subset %s: %s' % (', '.join(subset), exc))
    return collector.collect(module=module)


def main():
    argument_spec = dict(
        k3s_ports=dict(type='list', elements='str', default=['6443/tcp', '6444/tcp', '10010/tcp', '10248/tcp',
                                                             '10249/tcp', '10250/tcp', '10256/tcp', '10257/tcp',
                                                             '10258/tcp', '10259/tcp', '8472/udp']),
        firewalld_ports=dict(type='list', elements='str', default=[]),
        cluster_cidr=dict(type='str', default='10.42.0.0/16'),
        service_cidr=dict(type='str', default='10.43.0.0/16'),
        node_port_range=dict(type='str', default='30000-32767'),
        flannel_backend=dict(type='str', default='vxlan'),
        disable_bundled_traefik=dict(type='bool', default=True),
        disable_servicelb=dict(type='bool', default=True),
        resolv_conf=dict(type='path'),
        min_free_memory_mb=dict(type='int', default=512),
        data_dir=dict(type='path', default='/var/lib/rancher/k3s'),
        shared_data_dirs=dict(type='list', elements='path',
                              default=['/var/lib/docker', '/var/lib/containers', '/var/lib/nomad',
                                       '/opt/nomad/data', '/var/lib/gitlab-runner']),
        boot_cmdline_managed=dict(type='bool', default=False),
        node_address=dict(type='str', default=''),
        firewalld_zone=dict(type='str', default=''),
        query_nomad=dict(type='bool', default=True),
        fail_on_conflict=dict(type='bool', default=True),
        gather_subset=dict(type='list', elements='str', default=[]),
    )
    argument_spec.update(nomad_api.NOMAD_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    try:
        plan = preflight.normalize_plan(params)
    except preflight.PlanError as exc:
        module.fail_json(msg='invalid K3s plan: %s' % exc)

    def run(argv):
        return module.run_command(argv, check_rc=False, environ_update={'LC_ALL': 'C'})

    facts = hostfacts.collect_all(run, params['data_dir'], params['shared_data_dirs'], KERNEL_MODULES, SYSCTLS)
    if params['resolv_conf']:
        text = hostfacts.read_text(params['resolv_conf'])
        facts['resolv_override'] = {'exists': text is not None,
                                    'nameservers': netparse.parse_resolv_conf(text or '')}

    nomad = {'reachable': False, 'error': 'not queried (query_nomad=false)'}
    if params['query_nomad']:
        try:
            nomad = nomad_api.summarize(nomad_api.NomadClient.from_params(params))
        except nomad_api.NomadForbidden as exc:
            # Not "unreachable": falling back to Nomad's defaults would check the plan
            # against ports and jobs this agent may not have.
            module.fail_json(msg='the Nomad agent at %s refused the token: %s' % (params['nomad_addr'], exc),
                             nomad={'reachable': True, 'forbidden': True, 'error': str(exc), 'addr': params['nomad_addr']})
        except nomad_api.NomadError as exc:
            nomad = {'reachable': False, 'error': str(exc), 'addr': params['nomad_addr']}

    conflicts, warnings, ports = preflight.evaluate(facts, plan, nomad)

    host = dict((k, v) for k, v in facts.items() if k not in ('sockets', 'iptables'))
    host['iptables'] = {'available': facts['iptables']['available'], 'error': facts['iptables']['error'],
                        'mode': facts['iptables'].get('mode', ''),
                        'chains': netparse.chains(facts['iptables'].get('tables') or {})}
    zone = (preflight.firewalld_zone(plan, facts) if facts['firewalld']['running']
            else {'name': '', 'interface': '', 'reason': 'firewalld is not running'})
    result = dict(changed=False, conflicts=conflicts, warnings_found=warnings, ports=ports,
                  arch=facts['arch'], nomad=nomad, host=host, firewalld_zone=zone)
    if params['gather_subset']:
        result['ansible_facts'] = _ansible_facts(module, params['gather_subset'])
    if conflicts and params['fail_on_conflict']:
        module.fail_json(msg='%d conflict(s) between the K3s plan and this host:\n- %s'
                         % (len(conflicts), '\n- '.join(conflicts)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
