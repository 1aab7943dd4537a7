# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare what a host already runs (Nomad, Consul, Docker, the edge) with a K3s plan.

``evaluate(facts, plan)`` is pure: it takes the facts from ``_hostfacts.collect_all``
plus the Nomad summary, and returns ``(conflicts, warnings, ports)``. A conflict is
something that would break K3s or a Nomad workload; each names the port, CIDR or
process and says what to change. Warnings are advisory.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse
from ansible_collections.brmartin.k3s_migration.plugins.module_utils._hostfacts import K3S_BINARIES
from ansible_collections.brmartin.k3s_migration.plugins.module_utils._nomad_api import (
    DEFAULT_BRIDGE_SUBNET, DEFAULT_MAX_DYNAMIC_PORT, DEFAULT_MIN_DYNAMIC_PORT)

SUPPORTED_ARCHES = tuple(K3S_BINARIES)
# Processes and interfaces that are K3s's own once it runs: a re-run must not flag them.
# K3s runs as k3s-server/k3s-agent; what it starts (containerd, its shims) runs from the
# programs it unpacks under <data-dir>/data/, whatever their names. A Docker host's own
# containerd (/usr/bin/containerd) is not K3s's.
K3S_PROCESSES = ('k3s', 'k3s-server', 'k3s-agent')
K3S_PROGRAM_DIRS = ('/var/lib/rancher/k3s/data/',)
K3S_INTERFACE_PREFIXES = ('cni0', 'flannel', 'kube-', 'cilium_', 'lxc', 'veth')
NETWORK_FSTYPES = ('nfs', 'nfs4', 'cifs', 'smb3', 'fuse.glusterfs', 'glusterfs', 'ceph', 'fuse.sshfs')
MEMORY_CGROUP_ARGS = 'cgroup_memory=1 cgroup_enable=memory'
REQUIRED_PLAN_KEYS = ('k3s_ports', 'cluster_cidr', 'service_cidr', 'node_port_range')


class PlanError(ValueError):
    """The planned K3s settings themselves are malformed."""


def normalize_plan(plan: dict) -> dict:
    """Validate and parse the planned settings; raise PlanError naming the bad value."""
    missing = [k for k in REQUIRED_PLAN_KEYS if plan.get(k) in (None, '')]
    if missing:
        raise PlanError('missing planned setting(s): %s' % ', '.join(missing))
    try:
        parsed = dict(plan)
        parsed['k3s_ports'] = [netparse.parse_port_spec(p) for p in plan['k3s_ports']]
        parsed['firewalld_ports'] = [netparse.parse_port_spec(p) for p in plan.get('firewalld_ports') or plan['k3s_ports']]
        parsed['cluster_nets'] = [str(netparse.parse_network(c)) for c in str(plan['cluster_cidr']).split(',')]
        parsed['service_nets'] = [str(netparse.parse_network(c)) for c in str(plan['service_cidr']).split(',')]
        parsed['node_ports'] = netparse.parse_port_range(plan['node_port_range'])
    except netparse.ParseError as exc:
        raise PlanError(str(exc))
    return parsed


def _is_k3s_owned(sock: dict) -> bool:
    return bool(sock['processes']) and all(
        p['name'] in K3S_PROCESSES or str(p.get('exe', '')).startswith(K3S_PROGRAM_DIRS) for p in sock['processes'])


def _is_k3s_interface(name: str) -> bool:
    return any(name.startswith(prefix) for prefix in K3S_INTERFACE_PREFIXES)


def _in_nets(address: str, nets: list) -> bool:
    host = address.split(':', 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n) for n in nets)


def ports_in_use(facts: dict, nomad: dict, cluster_nets: list) -> list[dict]:
    """Every host port something other than K3s holds: sockets, CNI portmap, Nomad."""
    vxlan_ports = {i['vxlan_port'] for i in facts['interfaces']['interfaces'] if i.get('vxlan_port')}
    used = []
    for sock in facts['sockets']['sockets']:
        if _is_k3s_owned(sock):
            continue
        if not sock['processes'] and sock['proto'] == 'udp' and sock['port'] in vxlan_ports:
            continue  # a kernel VXLAN socket: judged by its interface, below
        used.append({'low': sock['port'], 'high': sock['port'], 'proto': sock['proto'],
                     'owner': socket_desc(sock), 'source': 'socket'})
    for mapping in netparse.portmap_host_ports(facts['iptables'].get('tables') or {}):
        if mapping['to'] and _in_nets(mapping['to'], cluster_nets):
            continue  # a hostPort of a K3s pod, published by K3s's own portmap plugin
        used.append({'low': mapping['low'], 'high': mapping['high'], 'proto': mapping['proto'],
                     'owner': 'a Nomad allocation published through CNI portmap (nat chain %s -> %s)'
                              % (mapping['chain'], mapping['to'] or '?'),
                     'source': 'cni-portmap'})
    for port in nomad.get('host_ports') or []:
        for proto in ('tcp', 'udp'):
            used.append({'low': port['port'], 'high': port['port'], 'proto': proto,
                         'owner': 'Nomad job %s (port label %s)' % (port['job'], port['label']),
                         'source': 'nomad-allocation'})
    return used


def socket_desc(sock: dict) -> str:
    return '%s on %s' % (netparse.socket_owner(sock), sock['address'])


def _check_ports(plan: dict, used: list, conflicts: list) -> None:
    for spec in plan['k3s_ports']:
        seen = set()
        for item in used:
            if item['proto'] != spec['proto'] or not netparse.ranges_overlap(
                    (spec['low'], spec['high']), (item['low'], item['high'])):
                continue
            key = (item['low'], item['owner'])
            if key in seen:
                continue
            seen.add(key)
            conflicts.append(
                'port %d/%s, which K3s needs (%s), is already used by %s: stop or move that service, '
                'or change the K3s port plan' % (item['low'], spec['proto'], netparse.format_port_spec(spec),
                                                 item['owner']))


def _check_node_ports(plan: dict, nomad: dict, used: list, conflicts: list, warnings: list) -> None:
    low, high = plan['node_ports']
    dyn = (nomad.get('min_dynamic_port') or DEFAULT_MIN_DYNAMIC_PORT,
           nomad.get('max_dynamic_port') or DEFAULT_MAX_DYNAMIC_PORT)
    source = 'from the Nomad agent' if nomad.get('reachable') else "Nomad's default, agent not reachable"
    if netparse.ranges_overlap((low, high), dyn):
        free = 'pick a range above %d (e.g. %d-32767)' % (dyn[1], dyn[1] + 1) if dyn[1] < 32767 else \
            'narrow Nomad\'s client min_dynamic_port/max_dynamic_port'
        conflicts.append(
            'NodePort range %d-%d overlaps Nomad\'s dynamic port range %d-%d (%s): Nomad would hand the same '
            'ports to allocations; %s via k3s_node_port_range' % (low, high, dyn[0], dyn[1], source, free))
    for rng in nomad.get('reserved_ports') or []:
        if netparse.ranges_overlap((low, high), tuple(rng)):
            conflicts.append('NodePort range %d-%d overlaps Nomad reserved ports %d-%d: move k3s_node_port_range'
                             % (low, high, rng[0], rng[1]))
    for item in used:
        if netparse.ranges_overlap((low, high), (item['low'], item['high'])):
            conflicts.append('NodePort range %d-%d contains port %d/%s, already used by %s: move k3s_node_port_range'
                             % (low, high, item['low'], item['proto'], item['owner']))


def _check_cidrs(plan: dict, facts: dict, nomad: dict, conflicts: list) -> None:
    planned = [('cluster CIDR', n) for n in plan['cluster_nets']] + [('service CIDR', n) for n in plan['service_nets']]
    for i, (label_a, net_a) in enumerate(planned):
        for label_b, net_b in planned[i + 1:]:
            if netparse.networks_overlap(net_a, net_b):
                conflicts.append('%s %s overlaps %s %s: they must be disjoint' % (label_a, net_a, label_b, net_b))
    for label, net in planned:
        for iface in facts['interfaces']['interfaces']:
            if _is_k3s_interface(iface['name'] or ''):
                continue
            for cidr in iface['addresses']:
                if netparse.networks_overlap(net, cidr):
                    what = {'docker0': ' (the Docker bridge)', nomad.get('bridge_name') or 'nomad': ' (the Nomad bridge)'}
                    conflicts.append('%s %s overlaps address %s on interface %s%s: choose a %s that no host network uses'
                                     % (label, net, cidr, iface['name'], what.get(iface['name'], ''), label))
        for route in facts['routes']['routes']:
            dst = netparse.route_network(route['dst'])
            if not dst or _is_k3s_interface(route['dev']) or route['protocol'] == 'kernel':
                continue  # kernel routes repeat the interface addresses reported above
            if netparse.networks_overlap(net, dst):
                conflicts.append('%s %s overlaps route %s via %s: choose a %s outside it'
                                 % (label, net, dst, route['dev'] or route['gateway'], label))
        bridge = nomad.get('bridge_subnet') or DEFAULT_BRIDGE_SUBNET
        if netparse.networks_overlap(net, bridge):
            conflicts.append('%s %s overlaps the Nomad bridge subnet %s (bridge_network_subnet): choose another %s'
                             % (label, net, bridge, label))


def _check_dns(plan: dict, facts: dict, conflicts: list, warnings: list) -> None:
    resolv = facts['resolv']
    override = plan.get('resolv_conf') or ''
    if override:
        servers = list(facts.get('resolv_override', {}).get('nameservers', []))
        if not facts.get('resolv_override', {}).get('exists'):
            conflicts.append('resolv_conf %s does not exist on this host: create it with a reachable upstream '
                             'nameserver or point resolv_conf elsewhere' % override)
        elif not servers or all(netparse.is_unusable_nameserver(s) for s in servers):
            conflicts.append('resolv_conf %s lists no nameserver pods can reach (%s): list a LAN or upstream '
                             'resolver' % (override, ', '.join(servers) or 'none'))
        return
    bad = [s for s in resolv['etc']['nameservers'] if netparse.is_unusable_nameserver(s)]
    if not bad:
        return
    resolved = resolv['systemd_resolved']
    if resolved['exists'] and resolved['nameservers'] and not any(
            netparse.is_unusable_nameserver(s) for s in resolved['nameservers']):
        warnings.append('/etc/resolv.conf uses loopback nameserver %s; K3s will fall back to %s (%s). Set '
                        'k3s_resolv_conf explicitly and forward consul. from CoreDNS to reach Consul names'
                        % (', '.join(bad), resolved['path'], ', '.join(resolved['nameservers'])))
        return
    conflicts.append('/etc/resolv.conf uses loopback nameserver %s (a local forwarder such as Consul DNS); pods '
                     'cannot reach it and K3s would silently fall back to 8.8.8.8: set k3s_resolv_conf to a file '
                     'listing a reachable upstream resolver, and forward consul. to Consul DNS from CoreDNS'
                     % ', '.join(bad))


def firewalld_zone(plan: dict, facts: dict) -> dict:
    """The zone the K3s ports belong in, chosen as the k3s role chooses it: the planned zone,
    else the zone of the interface carrying the node's address, else the default zone."""
    fw = facts['firewalld']
    if plan.get('firewalld_zone'):
        return {'name': plan['firewalld_zone'], 'interface': '', 'reason': 'given (k3s_firewalld_zone)'}
    interface, how = netparse.node_interface(facts['interfaces']['interfaces'], facts['routes']['routes'],
                                             plan.get('node_address') or '')
    bindings = dict((name, zone.get('interfaces', [])) for name, zone in fw['zones'].items())
    name, reason = netparse.firewalld_zone_for(interface, bindings, fw['default_zone'], how)
    return {'name': name, 'interface': interface, 'reason': reason}


def _check_firewalld(plan: dict, facts: dict, warnings: list) -> None:
    fw = facts['firewalld']
    if not fw['running']:
        return
    warnings.append('firewalld is running: `firewall-cmd --reload` flushes iptables rules firewalld does not own, '
                    "including Nomad's CNI portmap and masquerade chains (not re-created until the allocations "
                    "restart) and K3s's hostPort DNAT; make changes with --permanent plus runtime (as this "
                    'collection does), never a reload, or restart the affected allocations after one')
    zone_name = firewalld_zone(plan, facts)['name']
    zone = fw['zones'].get(zone_name, {})
    if zone.get('target', [''])[0] in ('ACCEPT',):
        return
    allowed = set(zone.get('ports', []))
    for service in zone.get('services', []):
        allowed.update(fw['service_ports'].get(service, []))
    allowed_specs = []
    for text in allowed:
        try:
            allowed_specs.append(netparse.parse_port_spec(text))
        except netparse.ParseError:
            continue
    missing = []
    for spec in plan['firewalld_ports'] + [{'low': plan['node_ports'][0], 'high': plan['node_ports'][1], 'proto': 'tcp'}]:
        covered = any(a['proto'] == spec['proto'] and a['low'] <= spec['low'] and spec['high'] <= a['high']
                      for a in allowed_specs)
        if not covered:
            missing.append(netparse.format_port_spec(spec))
    if missing:
        warnings.append('firewalld zone %s does not allow %s yet: the k3s stage opens them permanently'
                        % (zone_name, ', '.join(missing)))
    trusted = fw['zones'].get('trusted', {})
    sources = set(trusted.get('sources', []))
    for net in plan['cluster_nets'] + plan['service_nets']:
        if net not in sources:
            warnings.append('firewalld does not trust %s (pod/service traffic) yet: the k3s stage adds it to the '
                            'trusted zone' % net)


def _check_kernel(plan: dict, facts: dict, conflicts: list, warnings: list) -> None:
    cg = facts['cgroups']
    if not cg['memory'] and plan.get('boot_cmdline_managed') and cg['boot_cmdline_file']:
        warnings.append("the memory cgroup controller is disabled: the k3s stage will add '%s' to %s and reboot "
                        "this node (k3s_manage_boot_cmdline)" % (MEMORY_CGROUP_ARGS, cg['boot_cmdline_file']))
    elif not cg['memory']:
        if cg['boot_cmdline_file']:
            fix = "append '%s' to the single line in %s and reboot" % (MEMORY_CGROUP_ARGS, cg['boot_cmdline_file'])
        else:
            fix = "add '%s' to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub) and reboot" \
                % MEMORY_CGROUP_ARGS
        conflicts.append('the memory cgroup controller is disabled%s, and the kubelet will not start without it: %s '
                         '(or set k3s_manage_boot_cmdline: true)'
                         % (' on this %s' % cg['board'] if cg['board'] else '', fix))
    for name, present in sorted(facts['kernel']['modules'].items()):
        if not present:
            warnings.append('kernel module %s is not loaded; K3s loads it at start (modprobe %s)' % (name, name))
    if facts['kernel']['sysctls'].get('net.ipv4.ip_forward') not in (None, '1'):
        warnings.append('net.ipv4.ip_forward is 0; K3s turns it on, which also affects Nomad and Docker traffic')
    if str(plan.get('flannel_backend', '')).startswith('wireguard') and not facts['kernel']['modules'].get('wireguard'):
        warnings.append('flannel backend %s needs the wireguard kernel module, which is not loaded'
                        % plan['flannel_backend'])


def _check_vxlan(plan: dict, facts: dict, conflicts: list) -> None:
    if plan.get('flannel_backend', 'vxlan') != 'vxlan':
        return
    for iface in facts['interfaces']['interfaces']:
        if iface.get('vxlan_port') == 8472 and not _is_k3s_interface(iface['name']):
            conflicts.append('VXLAN interface %s already uses UDP 8472, flannel\'s VXLAN port: remove it or choose '
                             'another k3s_flannel_backend' % iface['name'])


def _check_edge(plan: dict, used: list, conflicts: list) -> None:
    for flag, component in (('disable_bundled_traefik', 'bundled Traefik'), ('disable_servicelb', 'ServiceLB')):
        if plan.get(flag, True):
            continue
        for item in used:
            if item['proto'] == 'tcp' and any(item['low'] <= p <= item['high'] for p in (80, 443)):
                conflicts.append('%s is left enabled while port %d/tcp is held by %s (the existing edge): add it to '
                                 'k3s_disable so K3s does not fight for 80/443' % (component, item['low'], item['owner']))


def _check_storage(facts: dict, conflicts: list, warnings: list) -> None:
    data = facts['storage']['data_dir']
    if data['fstype'] in NETWORK_FSTYPES:
        conflicts.append('K3s data directory %s is on %s (%s from %s): its datastore must be on local disk'
                         % (data['path'], data['fstype'], data['mount_point'], data['source']))
    for other in facts['storage']['others']:
        if other['device'] and other['device'] == data['device']:
            warnings.append('K3s data directory %s shares filesystem %s with %s: heavy container or CI I/O there '
                            'slows etcd/SQLite (advisory)' % (data['path'], data['mount_point'], other['path']))


def evaluate(facts: dict, plan: dict, nomad: dict) -> tuple[list, list, list]:
    """Return ``(conflicts, warnings, ports_in_use)`` for a normalized plan."""
    conflicts: list = []
    warnings: list = []
    if facts['arch'] not in SUPPORTED_ARCHES:
        conflicts.append('architecture %s (%s) has no K3s build; supported: %s'
                         % (facts['machine'], facts['arch'], ', '.join(SUPPORTED_ARCHES)))
    for key in ('sockets', 'interfaces', 'routes'):
        if not facts[key]['available']:
            warnings.append('could not read %s: %s' % (key, facts[key]['error']))
    if not facts['iptables']['available']:
        warnings.append('iptables unavailable: %s; CNI port mappings could not be checked'
                        % facts['iptables']['error'])
    if not nomad.get('reachable'):
        warnings.append('Nomad agent not reachable (%s); assuming its defaults (dynamic ports %d-%d, bridge %s)'
                        % (nomad.get('error', 'not queried'), DEFAULT_MIN_DYNAMIC_PORT, DEFAULT_MAX_DYNAMIC_PORT,
                           DEFAULT_BRIDGE_SUBNET))
    used = ports_in_use(facts, nomad, plan['cluster_nets'])
    _check_ports(plan, used, conflicts)
    _check_node_ports(plan, nomad, used, conflicts, warnings)
    _check_cidrs(plan, facts, nomad, conflicts)
    _check_edge(plan, used, conflicts)
    _check_dns(plan, facts, conflicts, warnings)
    _check_kernel(plan, facts, conflicts, warnings)
    _check_vxlan(plan, facts, conflicts)
    _check_firewalld(plan, facts, warnings)
    _check_storage(facts, conflicts, warnings)
    mem = facts['memory']
    if mem['available_mb'] < int(plan.get('min_free_memory_mb') or 0):
        conflicts.append('only %d MB of memory available (of %d MB), below min_free_memory_mb=%d: K3s would '
                         'squeeze Nomad allocations; free memory or lower the threshold deliberately'
                         % (mem['available_mb'], mem['total_mb'], int(plan['min_free_memory_mb'])))
    ports = sorted(({'port': u['low'], 'proto': u['proto'], 'owner': u['owner'], 'source': u['source']}
                    for u in used), key=lambda p: (p['port'], p['proto'], p['owner']))
    return _dedupe(conflicts), _dedupe(warnings), ports


def _dedupe(items: list) -> list:
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
