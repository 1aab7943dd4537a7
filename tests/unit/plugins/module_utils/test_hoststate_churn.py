# SPDX-License-Identifier: GPL-3.0-or-later
"""Nomad's expected churn (NOMAD_CHURN) told apart from what K3s could leave.

Records are shaped as host_state takes them; the rules are iptables-save lines as CNI's
bridge and portmap plugins write them for Nomad's network ("nomad") and K3s's ("cbr0").
"""

from __future__ import annotations

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hoststate as hoststate

NOMAD_NAT = '-m comment --comment "name: \\"nomad\\" id: \\"4f2c5d0e\\""'
CBR0_NAT = '-m comment --comment "name: \\"cbr0\\" id: \\"9a8b7c6d\\""'


def before():
    return {
        'interfaces': {
            'nomad': {'kind': 'bridge', 'mtu': 1500, 'addresses': ['172.26.64.1/20']},
            'veth1111': {'kind': 'veth', 'mtu': 1500, 'addresses': []},  # a record from before masters were read
        },
        'routes': {'172.26.64.0/20 dev nomad': 'kernel'},
        'iptables': {
            'filter/NOMAD-ADMIN': {'policy': '-', 'rules': ['-A NOMAD-ADMIN -d 172.26.64.0/20 -o nomad -j ACCEPT']},
            'nat/POSTROUTING': {'policy': 'ACCEPT', 'rules': ['-A POSTROUTING -s 172.26.64.2/32 %s -j CNI-aaaa' % NOMAD_NAT]},
            'nat/CNI-aaaa': {'policy': '-', 'rules': ['-A CNI-aaaa -d 172.26.64.0/20 %s -j ACCEPT' % NOMAD_NAT]},
        },
        'nft': {},
        'sockets': {'tcp 0.0.0.0:9000 python3': 'listening', 'tcp 0.0.0.0:25123 docker-proxy': 'listening'},
        'units': {'nomad.service': 'active/running', 'var-lib-nomad-alloc-1111-web-secrets.mount': 'active/mounted'},
        'paths': {
            '/var/lib/cni/networks/nomad': {'type': 'dir', 'mode': '0755'},
            '/var/lib/cni/networks/nomad/172.26.64.2': {'type': 'file', 'mode': '0644', 'size': 70, 'sha256': 'a'},
            '/var/lib/cni/networks/nomad/last_reserved_ip.0': {'type': 'file', 'mode': '0644', 'size': 11, 'sha256': 'b'},
        },
    }


def churned_after():
    """The same host after Nomad's own churn while K3s came and went."""
    after = before()
    # an allocation stopped (veth1111 gone), another started on the bridge (veth2222)
    del after['interfaces']['veth1111']
    after['interfaces']['veth2222'] = {'kind': 'veth', 'mtu': 1500, 'addresses': [], 'master': 'nomad'}
    # its CNI lease, the reserved-IP marker moving on, its cached result (and the directory)
    after['paths']['/var/lib/cni/networks/nomad/172.26.64.3'] = {'type': 'file', 'mode': '0644', 'size': 70, 'sha256': 'c'}
    after['paths']['/var/lib/cni/networks/nomad/last_reserved_ip.0']['sha256'] = 'd'
    after['paths']['/var/lib/cni/results'] = {'type': 'dir', 'mode': '0755'}
    after['paths']['/var/lib/cni/results/nomad-2222-eth0'] = {'type': 'file', 'mode': '0600', 'size': 900, 'sha256': 'e'}
    # its masquerade chain and POSTROUTING jump; its port map through CNI's shared chains
    after['iptables']['nat/POSTROUTING']['rules'].append('-A POSTROUTING -s 172.26.64.3/32 %s -j CNI-bbbb' % NOMAD_NAT)
    after['iptables']['nat/CNI-bbbb'] = {'policy': '-', 'rules': ['-A CNI-bbbb -d 172.26.64.0/20 %s -j ACCEPT' % NOMAD_NAT,
                                                                  '-A CNI-bbbb ! -d 224.0.0.0/4 %s -j MASQUERADE' % NOMAD_NAT]}
    after['iptables']['nat/CNI-HOSTPORT-DNAT'] = {'policy': '-', 'rules': [
        '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"nomad\\" id: \\"2222\\"" '
        '-m multiport --dports 27001 -j CNI-DN-cccc']}
    after['iptables']['nat/CNI-DN-cccc'] = {'policy': '-', 'rules': [
        '-A CNI-DN-cccc -p tcp -m tcp --dport 27001 -j DNAT --to-destination 172.26.64.3:8080']}
    # the restarted allocation's listener on a dynamic port, and its alloc mounts
    del after['sockets']['tcp 0.0.0.0:25123 docker-proxy']
    after['sockets']['tcp 0.0.0.0:27001 docker-proxy'] = 'listening'
    del after['units']['var-lib-nomad-alloc-1111-web-secrets.mount']
    after['units']['var-lib-nomad-alloc-2222-web-secrets.mount'] = 'active/mounted'
    after['units']['run-netns-2222\\x2daaaa.mount'] = 'active/mounted'
    after['units']['run-docker-netns-0d1e2f.mount'] = 'active/mounted'
    return after


def compare(old, new):
    return hoststate.compare(old, new, churn=hoststate.NomadChurn(old, new, 'nomad', 'nomad', (20000, 32000)))


def test_nomad_churn_alone_passes_and_is_listed():
    old, new = before(), churned_after()
    differences, ignored, churned = compare(old, new)
    assert differences == {} and ignored == {}
    lines = hoststate.summarize(churned)
    assert 'interfaces added: veth2222' in lines and 'interfaces removed: veth1111' in lines
    assert 'iptables added: nat/CNI-DN-cccc' in lines and 'iptables changed: nat/POSTROUTING' in lines
    assert 'paths added: /var/lib/cni/results' in lines and 'sockets added: tcp 0.0.0.0:27001 docker-proxy' in lines
    assert 'units added: run-netns-2222\\x2daaaa.mount' in lines
    # without the churn rules every one of them is a difference
    assert len(hoststate.summarize(hoststate.compare(old, new)[0])) == len(lines)


def test_k3s_leftovers_still_fail_beside_the_churn():
    old, new = before(), churned_after()
    new['interfaces']['cni0'] = {'kind': 'bridge', 'mtu': 1450, 'addresses': ['10.42.0.1/24']}
    new['interfaces']['veth9999'] = {'kind': 'veth', 'mtu': 1450, 'addresses': [], 'master': 'cni0'}
    new['interfaces']['vethorphan'] = {'kind': 'veth', 'mtu': 1450, 'addresses': []}
    new['iptables']['nat/POSTROUTING']['rules'].append('-A POSTROUTING -s 10.42.0.5/32 %s -j CNI-dddd' % CBR0_NAT)
    new['iptables']['nat/CNI-dddd'] = {'policy': '-', 'rules': ['-A CNI-dddd -d 10.42.0.0/16 %s -j ACCEPT' % CBR0_NAT]}
    new['iptables']['nat/CNI-HOSTPORT-DNAT']['rules'].append(
        '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"cbr0\\" id: \\"9a8b\\"" -j CNI-DN-eeee')
    new['iptables']['nat/CNI-DN-eeee'] = {'policy': '-', 'rules': ['-A CNI-DN-eeee -j DNAT --to-destination 10.42.0.5:80']}
    new['iptables']['filter/KUBE-FIREWALL'] = {'policy': '-', 'rules': []}
    new['paths']['/var/lib/cni/networks/cbr0/10.42.0.5'] = {'type': 'file', 'mode': '0644', 'size': 70, 'sha256': 'f'}
    new['paths']['/var/lib/cni/results/cbr0-9a8b-eth0'] = {'type': 'file', 'mode': '0600', 'size': 900, 'sha256': 'g'}
    new['sockets']['tcp 0.0.0.0:30080 k3s-agent'] = 'listening'  # a K3s listener inside Nomad's range
    new['units']['run-netns-cni\\x2d1234.mount'] = 'active/mounted'
    new['units']['run-k3s-containerd-io.containerd.runtime.v2.task-k8s.io-abcd-rootfs.mount'] = 'active/mounted'
    new['units']['k3s-agent.service'] = 'active/running'
    differences, _ignored, churned = compare(old, new)
    lines = hoststate.summarize(differences)
    assert sorted(lines) == sorted([
        'interfaces added: cni0', 'interfaces added: veth9999', 'interfaces added: vethorphan',
        'iptables added: filter/KUBE-FIREWALL', 'iptables added: nat/CNI-DN-eeee', 'iptables added: nat/CNI-dddd',
        'iptables added: nat/CNI-HOSTPORT-DNAT', 'iptables changed: nat/POSTROUTING',
        'paths added: /var/lib/cni/networks/cbr0/10.42.0.5', 'paths added: /var/lib/cni/results/cbr0-9a8b-eth0',
        'paths added: /var/lib/cni/results',  # it holds a K3s result too: not Nomad's alone
        'sockets added: tcp 0.0.0.0:30080 k3s-agent', 'units added: k3s-agent.service',
        'units added: run-k3s-containerd-io.containerd.runtime.v2.task-k8s.io-abcd-rootfs.mount',
        'units added: run-netns-cni\\x2d1234.mount']), lines
    # Nomad's own churn beside them is still recognised
    assert 'interfaces added: veth2222' in hoststate.summarize(churned)


def test_nomad_durable_state_is_compared():
    old = before()
    for change in ('bridge', 'admin', 'static', 'policy'):
        new = before()
        if change == 'bridge':
            new['interfaces']['nomad']['addresses'] = ['172.26.80.1/20']
        elif change == 'admin':
            new['iptables']['filter/NOMAD-ADMIN']['rules'] = []
        elif change == 'static':
            del new['sockets']['tcp 0.0.0.0:9000 python3']  # a static port no longer held
        else:
            new['iptables']['nat/POSTROUTING']['policy'] = 'DROP'
        differences, _ignored, churned = compare(old, new)
        assert differences and not churned, change


def test_the_bridge_and_network_names_are_the_given_ones():
    old, new = before(), churned_after()
    differences, _ignored, _churned = hoststate.compare(
        old, new, churn=hoststate.NomadChurn(old, new, 'nomad0', 'nomadnet', (20000, 26000)))
    lines = hoststate.summarize(differences)
    assert 'interfaces added: veth2222' in lines and 'paths added: /var/lib/cni/results/nomad-2222-eth0' in lines
    assert 'sockets added: tcp 0.0.0.0:27001 docker-proxy' in lines  # above the given dynamic range


def test_a_record_without_masters_compares_equal_to_one_with():
    old = {'interfaces': {'veth1111': {'kind': 'veth', 'mtu': 1500, 'addresses': []}}}
    new = {'interfaces': {'veth1111': {'kind': 'veth', 'mtu': 1500, 'addresses': [], 'master': 'nomad'}}}
    assert hoststate.compare(old, new) == ({}, {})
