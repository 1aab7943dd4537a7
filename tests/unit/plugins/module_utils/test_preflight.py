# SPDX-License-Identifier: GPL-3.0-or-later
"""The conflict rules of the coexistence preflight, one planted problem at a time."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _preflight as preflight

PLAN = {
    'k3s_ports': ['6443/tcp', '6444/tcp', '10250/tcp', '8472/udp'],
    'cluster_cidr': '10.42.0.0/16',
    'service_cidr': '10.43.0.0/16',
    'node_port_range': '32100-32767',
    'flannel_backend': 'vxlan',
    'disable_bundled_traefik': True,
    'disable_servicelb': True,
    'resolv_conf': None,
    'min_free_memory_mb': 512,
}

NOMAD = {'reachable': True, 'min_dynamic_port': 20000, 'max_dynamic_port': 32000, 'reserved_ports': [],
         'bridge_subnet': '172.26.64.0/20', 'bridge_name': 'nomad', 'host_ports': [], 'jobs': []}


def sock(port, name='python3', pid=100, proto='tcp', address='*'):
    return {'proto': proto, 'address': address, 'port': port,
            'processes': [{'name': name, 'pid': pid}] if name else []}


def iface(name, addresses, kind='', vxlan_port=None):
    return {'name': name, 'kind': kind, 'state': 'UP', 'mtu': 1500, 'addresses': addresses, 'vxlan_port': vxlan_port}


def clean_facts():
    """A host like the operator's hestia with Nomad and the edge, and nothing in K3s's way."""
    return {
        'machine': 'x86_64', 'arch': 'amd64', 'hostname': 'hestia', 'cpus': 4,
        'memory': {'total_mb': 16000, 'available_mb': 9000},
        'sockets': {'available': True, 'error': '', 'sockets': [
            sock(4646, 'nomad'), sock(8500, 'consul'), sock(8600, 'consul', proto='udp'),
            sock(80, 'traefik'), sock(443, 'traefik'), sock(9000, 'docker-proxy')]},
        'interfaces': {'available': True, 'error': '', 'interfaces': [
            iface('lo', ['127.0.0.1/8']), iface('eth0', ['192.168.1.5/24']),
            iface('nomad', ['172.26.64.1/20'], 'bridge'), iface('docker0', ['172.17.0.1/16'], 'bridge')]},
        'routes': {'available': True, 'error': '', 'routes': [
            {'dst': 'default', 'dev': 'eth0', 'gateway': '192.168.1.1', 'protocol': 'dhcp'},
            {'dst': '192.168.1.0/24', 'dev': 'eth0', 'gateway': '', 'protocol': 'kernel'}]},
        'iptables': {'available': True, 'error': '', 'mode': 'nf_tables', 'tables': {
            'nat': {'CNI-DN-abc': {'policy': '-', 'rules': [
                '-A CNI-DN-abc -p tcp -m tcp --dport 25123 -j DNAT --to-destination 172.26.64.2:5055']}}}},
        'nft': {'available': True, 'error': '', 'tables': []},
        'resolv': {'etc': {'path': '/etc/resolv.conf', 'exists': True, 'nameservers': ['192.168.1.1']},
                   'systemd_resolved': {'path': '/run/systemd/resolve/resolv.conf', 'exists': False,
                                        'nameservers': []}},
        'kernel': {'release': '6.8', 'modules': {'br_netfilter': True, 'overlay': True},
                   'sysctls': {'net.ipv4.ip_forward': '1'}},
        'cgroups': {'version': 2, 'memory': True, 'kernel_cmdline': '', 'boot_cmdline_file': '', 'board': ''},
        'firewalld': {'installed': False, 'running': False, 'default_zone': '', 'zones': {}, 'service_ports': {}},
        'storage': {'data_dir': {'path': '/var/lib/rancher/k3s', 'fstype': 'ext4', 'mount_point': '/',
                                 'source': '/dev/sda2', 'device': '8:2'}, 'others': []},
    }


def run(facts=None, plan=None, nomad=None):
    return preflight.evaluate(facts or clean_facts(), preflight.normalize_plan(dict(PLAN, **(plan or {}))),
                              nomad or NOMAD)


def test_clean_host_has_no_conflict_and_lists_ports_in_use():
    conflicts, _warnings, ports = run()
    assert conflicts == []
    assert {(p['port'], p['source']) for p in ports} >= {(9000, 'socket'), (25123, 'cni-portmap'), (80, 'socket')}


def planted_port_6443(f):
    f['sockets']['sockets'].append(sock(6443, 'python3', pid=812))


def planted_cluster_address(f):
    f['interfaces']['interfaces'].append(iface('eth1', ['10.42.7.1/24']))


def planted_route(f):
    f['routes']['routes'].append({'dst': '10.43.0.0/20', 'dev': 'wg0', 'gateway': '', 'protocol': 'static'})


def planted_no_memory_cgroup_pi(f):
    f['cgroups'].update(memory=False, boot_cmdline_file='/boot/firmware/current/cmdline.txt',
                        board='Raspberry Pi 5 Model B Rev 1.0')


def planted_loopback_dns(f):
    f['resolv']['etc']['nameservers'] = ['127.0.0.1']


def planted_low_memory(f):
    f['memory']['available_mb'] = 100


def planted_foreign_vxlan(f):
    f['interfaces']['interfaces'].append(iface('vx0', [], 'vxlan', 8472))


def planted_network_storage(f):
    f['storage']['data_dir'].update(fstype='fuse.glusterfs', mount_point='/var/lib/rancher', source='nomad-vol')


def planted_arch(f):
    f.update(machine='ppc64le', arch='ppc64le')


@pytest.mark.parametrize('plant, expected', [
    (planted_port_6443, 'port 6443/tcp, which K3s needs (6443/tcp), is already used by python3 (pid 812)'),
    (planted_cluster_address, 'cluster CIDR 10.42.0.0/16 overlaps address 10.42.7.1/24 on interface eth1'),
    (planted_route, 'service CIDR 10.43.0.0/16 overlaps route 10.43.0.0/20 via wg0'),
    (planted_no_memory_cgroup_pi, "append 'cgroup_memory=1 cgroup_enable=memory' to the single line in "
                                  "/boot/firmware/current/cmdline.txt"),
    (planted_loopback_dns, '/etc/resolv.conf uses loopback nameserver 127.0.0.1'),
    (planted_low_memory, 'only 100 MB of memory available'),
    (planted_foreign_vxlan, "VXLAN interface vx0 already uses UDP 8472"),
    (planted_network_storage, 'is on fuse.glusterfs'),
    (planted_arch, 'architecture ppc64le (ppc64le) has no K3s build'),
])
def test_each_planted_problem_is_one_named_conflict(plant, expected):
    facts = clean_facts()
    plant(facts)
    conflicts, _warnings, _ports = run(facts)
    assert len(conflicts) == 1, conflicts
    assert expected in conflicts[0]


def test_stock_node_port_range_overlaps_nomad_dynamic_range():
    conflicts, _w, _p = run(plan={'node_port_range': '30000-32767'})
    assert any("NodePort range 30000-32767 overlaps Nomad's dynamic port range 20000-32000 (from the Nomad agent)"
               in c and 'e.g. 32001-32767' in c for c in conflicts), conflicts


def test_node_port_range_against_nomad_reserved_and_allocated_ports():
    nomad = dict(NOMAD, reserved_ports=[[32200, 32210]], max_dynamic_port=32000,
                 host_ports=[{'port': 32500, 'label': 'http', 'job': 'whoami', 'to': 80}])
    conflicts, _w, _p = run(nomad=nomad)
    assert any('reserved ports 32200-32210' in c for c in conflicts)
    assert any('port 32500/tcp, already used by Nomad job whoami' in c for c in conflicts)


def test_cni_portmap_port_counts_even_without_a_listener():
    conflicts, _w, _p = run(plan={'k3s_ports': ['25123/tcp']})
    assert len(conflicts) == 1
    assert 'Nomad allocation published through CNI portmap (nat chain CNI-DN-abc -> 172.26.64.2:5055)' in conflicts[0]


def test_k3s_own_sockets_interfaces_and_pod_hostports_are_not_conflicts():
    """A re-run of site.yml after K3s is installed must stay clean."""
    facts = clean_facts()
    facts['sockets']['sockets'] += [sock(6443, 'k3s-server'), sock(10250, 'k3s-server'),
                                    sock(8472, None, proto='udp')]
    facts['interfaces']['interfaces'] += [iface('cni0', ['10.42.0.1/24'], 'bridge'),
                                          iface('flannel.1', ['10.42.0.0/32'], 'vxlan', 8472)]
    facts['routes']['routes'].append({'dst': '10.42.1.0/24', 'dev': 'flannel.1', 'gateway': '10.42.1.0',
                                      'protocol': ''})
    facts['iptables']['tables']['nat']['CNI-DN-k3s'] = {'policy': '-', 'rules': [
        '-A CNI-DN-k3s -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.42.0.9:8443']}
    conflicts, _w, ports = run(facts, plan={'k3s_ports': ['6443/tcp', '10250/tcp', '8472/udp', '8443/tcp']})
    assert conflicts == []
    assert 8443 not in [p['port'] for p in ports]


@pytest.mark.parametrize('name, exe, owned', [
    ('kube-apiserver', '/var/lib/rancher/k3s/data/2f1c/bin/k8s', True),   # started by K3s, from its data dir
    ('containerd', '/var/lib/rancher/k3s/data/current/bin/containerd', True),
    ('containerd', '/usr/bin/containerd', False),                         # Docker's own containerd on hestia
    ('kube-proxy', '', False),                                            # unknown program: not assumed K3s's
])
def test_k3s_ownership_of_a_port_follows_the_program_not_its_name(name, exe, owned):
    facts = clean_facts()
    facts['sockets']['sockets'].append({'proto': 'tcp', 'address': '*', 'port': 6443,
                                        'processes': [{'name': name, 'pid': 4920, 'exe': exe}]})
    conflicts, _w, _p = run(facts, plan={'k3s_ports': ['6443/tcp']})
    assert (conflicts == []) is owned, conflicts


def test_bundled_traefik_left_enabled_while_edge_owns_443():
    conflicts, _w, _p = run(plan={'disable_bundled_traefik': False})
    assert any(c.startswith('bundled Traefik is left enabled while port 80/tcp is held by traefik') for c in conflicts)
    assert any('port 443/tcp' in c for c in conflicts)


def test_cluster_and_service_cidr_must_be_disjoint():
    conflicts, _w, _p = run(plan={'service_cidr': '10.42.128.0/17'})
    assert conflicts == ['cluster CIDR 10.42.0.0/16 overlaps service CIDR 10.42.128.0/17: they must be disjoint']


def test_cluster_cidr_against_nomad_bridge_subnet():
    conflicts, _w, _p = run(plan={'cluster_cidr': '172.26.0.0/16'})
    assert any('overlaps address 172.26.64.1/20 on interface nomad (the Nomad bridge)' in c for c in conflicts)
    assert any('overlaps the Nomad bridge subnet 172.26.64.0/20' in c for c in conflicts)


def test_loopback_dns_with_usable_systemd_resolved_is_a_warning():
    facts = clean_facts()
    facts['resolv']['etc']['nameservers'] = ['127.0.0.53']
    facts['resolv']['systemd_resolved'] = {'path': '/run/systemd/resolve/resolv.conf', 'exists': True,
                                           'nameservers': ['192.168.1.1']}
    conflicts, warnings, _p = run(facts)
    assert conflicts == []
    assert any('K3s will fall back to /run/systemd/resolve/resolv.conf' in w for w in warnings)


def test_resolv_conf_override_must_exist_and_be_usable():
    facts = clean_facts()
    facts['resolv']['etc']['nameservers'] = ['127.0.0.1']
    facts['resolv_override'] = {'exists': True, 'nameservers': ['127.0.0.1']}
    conflicts, _w, _p = run(facts, plan={'resolv_conf': '/etc/k3s-resolv.conf'})
    assert conflicts == ['resolv_conf /etc/k3s-resolv.conf lists no nameserver pods can reach (127.0.0.1): '
                         'list a LAN or upstream resolver']
    facts['resolv_override'] = {'exists': True, 'nameservers': ['192.168.1.1']}
    assert run(facts, plan={'resolv_conf': '/etc/k3s-resolv.conf'})[0] == []


def test_memory_cgroup_fix_names_grub_off_the_pi():
    facts = clean_facts()
    facts['cgroups']['memory'] = False
    conflicts, _w, _p = run(facts)
    assert 'GRUB_CMDLINE_LINUX' in conflicts[0]


def test_iptables_unavailable_is_reported_not_raised():
    facts = clean_facts()
    facts['iptables'] = {'available': False, 'error': 'Failed to initialize nft: Protocol not supported',
                         'mode': '', 'tables': {}}
    conflicts, warnings, _p = run(facts)
    assert conflicts == []
    assert 'iptables unavailable: Failed to initialize nft: Protocol not supported; CNI port mappings could not ' \
           'be checked' in warnings


def test_unreachable_nomad_falls_back_to_its_defaults_and_warns():
    conflicts, warnings, _p = run(plan={'node_port_range': '30000-32767'},
                                  nomad={'reachable': False, 'error': 'connection refused'})
    assert any("Nomad's default, agent not reachable" in c for c in conflicts)
    assert any(w.startswith('Nomad agent not reachable (connection refused)') for w in warnings)


def test_firewalld_reports_missing_openings_as_warnings():
    facts = clean_facts()
    facts['firewalld'] = {'installed': True, 'running': True, 'default_zone': 'public', 'service_ports': {
        'kube-api': ['6443/tcp']}, 'zones': {
        'public': {'active': True, 'default': True, 'target': ['default'], 'services': ['kube-api'],
                   'ports': ['10250/tcp']},
        'trusted': {'active': False, 'target': ['ACCEPT'], 'sources': ['10.42.0.0/16']}}}
    conflicts, warnings, _p = run(facts)
    assert conflicts == []
    text = '\n'.join(warnings)
    assert 'does not allow 6443/tcp' not in text and 'does not allow 10250/tcp' not in text
    assert 'firewalld zone public does not allow 6444/tcp, 8472/udp, 32100-32767/tcp yet' in text
    assert 'firewalld does not trust 10.43.0.0/16' in text and 'trust 10.42.0.0/16' not in text
    assert "`firewall-cmd --reload` flushes iptables rules firewalld does not own, including Nomad's CNI" in text


def test_firewalld_zone_is_the_zone_of_the_node_interface():
    """Fedora Server: eth0 in FedoraServer while the default zone is public - the K3s ports
    are checked (and opened by the k3s role) in FedoraServer."""
    facts = clean_facts()
    facts['firewalld'] = {'installed': True, 'running': True, 'default_zone': 'public', 'service_ports': {}, 'zones': {
        'public': {'active': False, 'default': True, 'target': ['default'], 'ports': PLAN['k3s_ports']},
        'FedoraServer': {'active': True, 'target': ['default'], 'interfaces': ['eth0'], 'ports': ['6443/tcp']},
        'trusted': {'active': False, 'target': ['ACCEPT'], 'sources': []}}}
    _c, warnings, _p = run(facts)
    assert any(w.startswith('firewalld zone FedoraServer does not allow 6444/tcp') for w in warnings), warnings
    assert not any('zone public' in w for w in warnings)
    # only what the k3s stage opens is checked in firewalld (6444 and the like are bound, never opened)
    _c, warnings, _p = run(facts, plan={'firewalld_ports': ['6443/tcp', '8472/udp']})
    assert 'firewalld zone FedoraServer does not allow 8472/udp, 32100-32767/tcp yet' in '\n'.join(warnings)
    plan = preflight.normalize_plan(dict(PLAN))
    assert preflight.firewalld_zone(plan, facts) == {
        'name': 'FedoraServer', 'interface': 'eth0', 'reason': 'the zone of eth0 (eth0 has the default route)'}
    # the node's address on an interface in no zone: the default zone
    facts['interfaces']['interfaces'].append(iface('wg0', ['10.99.0.5/24']))
    assert preflight.firewalld_zone(dict(plan, node_address='10.99.0.5'), facts)['name'] == 'public'
    assert preflight.firewalld_zone(dict(plan, firewalld_zone='internal'), facts)['name'] == 'internal'


def test_every_conflict_is_reported_at_once():
    facts = clean_facts()
    for plant in (planted_port_6443, planted_cluster_address, planted_loopback_dns, planted_low_memory):
        plant(facts)
    conflicts, _w, _p = run(facts, plan={'node_port_range': '30000-32767'})
    assert len(conflicts) == 5


@pytest.mark.parametrize('bad, message', [
    ({'cluster_cidr': '10.42.0.0/33'}, "'10.42.0.0/33' is not a valid network CIDR"),
    ({'cluster_cidr': '10.42.0.1/16'}, 'has host bits set'),
    ({'node_port_range': '32767-32100'}, 'must satisfy 1 <= LOW <= HIGH <= 65535'),
    ({'node_port_range': 'lots'}, 'is not of the form LOW-HIGH'),
    ({'k3s_ports': ['8472/icmp']}, "has protocol 'icmp'"),
    ({'service_cidr': ''}, 'missing planned setting(s): service_cidr'),
])
def test_malformed_plan_is_rejected_with_the_value_named(bad, message):
    with pytest.raises(preflight.PlanError) as err:
        preflight.normalize_plan(dict(PLAN, **bad))
    assert message in str(err.value)


def test_evaluate_does_not_mutate_its_inputs():
    facts = clean_facts()
    before = copy.deepcopy(facts)
    run(facts)
    assert facts == before


def test_disabled_memory_cgroup_is_a_warning_when_the_k3s_stage_fixes_it():
    facts = clean_facts()
    planted_no_memory_cgroup_pi(facts)
    conflicts, warnings, _p = run(facts, plan={'boot_cmdline_managed': True})
    assert conflicts == []
    assert any("will add 'cgroup_memory=1 cgroup_enable=memory' to /boot/firmware/current/cmdline.txt" in w
               for w in warnings)
    facts['cgroups']['boot_cmdline_file'] = ''  # not a Pi: nothing the stage can edit
    assert len(run(facts, plan={'boot_cmdline_managed': True})[0]) == 1
