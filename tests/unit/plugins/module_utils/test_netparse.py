# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers fed with output captured from the lab hosts (tests/unit/fixtures/*_hestia.*
was printed by the amd64 lab node, *_heracles.* by an emulated arm64 node) and from a
Fedora host with systemd-resolved and IPv6 listeners (inline below)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse

FIXTURES = Path(__file__).resolve().parents[3] / 'unit' / 'fixtures'


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# `ss -H -l -n -t -u -p` on a Fedora 43 host running Docker, Consul and systemd-resolved.
SS_FEDORA = """\
udp   UNCONN 0      0         127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=801,fd=19))
udp   UNCONN 0      0               0.0.0.0:8472       0.0.0.0:*
tcp   LISTEN 0      4096          127.0.0.1:8500       0.0.0.0:*    users:(("consul",pid=1207,fd=12))
tcp   LISTEN 0      4096                  *:4646             *:*    users:(("nomad",pid=1180,fd=9))
tcp   LISTEN 0      4096               [::]:443           [::]:*    users:(("docker-proxy",pid=2211,fd=7))
tcp   LISTEN 0      128     [::ffff:192.168.1.5]:6443     *:*    users:(("k3s-server",pid=3010,fd=15),("k3s-server",pid=3010,fd=16))
"""


def test_ss_from_the_lab_node_lists_every_listener_with_its_owner():
    sockets = netparse.parse_ss(fixture('ss_hestia.txt'))
    assert sorted((s['proto'], s['port']) for s in sockets) == [
        ('tcp', 80), ('tcp', 443), ('tcp', 2222), ('tcp', 4646), ('tcp', 8500),
        ('tcp', 9000), ('tcp', 9200), ('tcp', 9300), ('udp', 8600)]
    nomad = next(s for s in sockets if s['port'] == 4646)
    assert nomad['address'] == '0.0.0.0'
    assert nomad['processes'] == [{'name': 'python3', 'pid': 436}]


def test_ss_fedora_forms_ipv6_scoped_and_ownerless():
    sockets = {(s['proto'], s['port']): s for s in netparse.parse_ss(SS_FEDORA)}
    assert sockets[('udp', 53)]['address'] == '127.0.0.53'
    assert sockets[('udp', 8472)]['processes'] == []
    assert sockets[('tcp', 4646)]['address'] == '*'
    assert sockets[('tcp', 443)]['address'] == '::'
    assert sockets[('tcp', 6443)]['address'] == '192.168.1.5'
    assert [p['name'] for p in sockets[('tcp', 6443)]['processes']] == ['k3s-server', 'k3s-server']
    assert netparse.socket_owner(sockets[('udp', 8472)]).startswith('an unknown process')


def test_ip_addr_from_the_lab_node_has_the_nomad_bridge():
    interfaces = {i['name']: i for i in netparse.parse_ip_addr(fixture('ip_addr_hestia.json'))}
    assert interfaces['nomad']['kind'] == 'bridge'
    assert interfaces['nomad']['addresses'][0] == '172.26.64.1/20'
    assert interfaces['eth0']['addresses'][0] == '10.89.42.5/24'
    assert interfaces['lo']['addresses'][0] == '127.0.0.1/8'


def test_ip_route_from_the_lab_node():
    routes = netparse.parse_ip_route(fixture('ip_route_hestia.json'))
    by_dst = {r['dst']: r for r in routes}
    assert by_dst['default']['gateway'] == '10.89.42.1'
    assert by_dst['172.26.64.0/20']['dev'] == 'nomad'
    assert netparse.route_network('default') is None
    assert netparse.route_network('10.89.42.0/24') == '10.89.42.0/24'


def test_vxlan_port_is_read_from_link_details():
    text = ('[{"ifname":"flannel.1","operstate":"UNKNOWN","mtu":1450,"linkinfo":{"info_kind":"vxlan",'
            '"info_data":{"id":1,"local":"192.168.1.5","port":8472}},"addr_info":[{"family":"inet",'
            '"local":"10.42.0.0","prefixlen":32}]}]')
    assert netparse.parse_ip_addr(text) == [{'name': 'flannel.1', 'kind': 'vxlan', 'state': 'UNKNOWN', 'mtu': 1450,
                                             'addresses': ['10.42.0.0/32'], 'vxlan_port': 8472, 'master': ''}]


def test_the_bridge_an_interface_is_enslaved_to_is_read():
    text = '[{"ifname":"veth2222","mtu":1500,"master":"nomad","linkinfo":{"info_kind":"veth"},"addr_info":[]}]'
    assert netparse.parse_ip_addr(text)[0]['master'] == 'nomad'


def test_iptables_save_from_the_lab_node():
    tables = netparse.parse_iptables_save(fixture('iptables_save_hestia.txt'))
    assert 'filter/NOMAD-ADMIN' in netparse.chains(tables)
    assert tables['filter']['NOMAD-ADMIN']['rules'] == ['-A NOMAD-ADMIN -d 172.26.64.0/20 -o nomad -j ACCEPT']
    assert tables['filter']['INPUT']['policy'] == 'ACCEPT'
    assert tables['nat']['CNI-HOSTPORT-DNAT']['policy'] == '-'


def test_cni_portmap_host_ports_come_from_the_dnat_chains():
    tables = netparse.parse_iptables_save(fixture('iptables_save_hestia.txt'))
    assert netparse.portmap_host_ports(tables) == [{
        'low': 25123, 'high': 25123, 'proto': 'tcp', 'chain': 'CNI-DN-5a3f1e0c2b9d4e7f8a1b2',
        'to': '172.26.64.2:5055'}]


def test_iptables_save_with_counters_compares_equal_to_without():
    plain = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n'
    counted = '*filter\n:INPUT ACCEPT [10:600]\n[3:180] -A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n'
    assert netparse.parse_iptables_save(plain) == netparse.parse_iptables_save(counted)


@pytest.mark.parametrize('text', ['-A INPUT -j ACCEPT\n', '*filter\nbogus line\nCOMMIT\n'])
def test_iptables_save_garbage_raises(text):
    with pytest.raises(netparse.ParseError):
        netparse.parse_iptables_save(text)


def test_firewalld_zones_from_the_lab_node():
    zones = netparse.parse_firewalld_zones(fixture('firewalld_zones_hestia.txt'))
    assert zones['public']['services'] == ['dhcpv6-client', 'ssh']
    assert '4646/tcp' in zones['public']['ports']
    assert zones['trusted']['target'] == ['ACCEPT']
    assert zones['block']['sources'] == []
    assert netparse.parse_firewalld_service_ports('ssh\n  ports: 22/tcp\n  protocols: \n') == ['22/tcp']


@pytest.mark.parametrize('value, expected', [
    ('30000-32767', (30000, 32767)), ('6443', (6443, 6443)), (6443, (6443, 6443)), ('2379:2380', (2379, 2380)),
])
def test_port_ranges(value, expected):
    assert netparse.parse_port_range(value) == expected


@pytest.mark.parametrize('value', ['0-10', '32767-30000', '70000', 'a-b', ''])
def test_bad_port_ranges(value):
    with pytest.raises(netparse.ParseError):
        netparse.parse_port_range(value)


def test_port_specs_and_lists():
    assert netparse.parse_port_spec('8472/UDP') == {'low': 8472, 'high': 8472, 'proto': 'udp'}
    assert netparse.format_port_spec(netparse.parse_port_spec('2379-2380')) == '2379-2380/tcp'
    assert netparse.parse_port_list('22, 80,8000-8100') == [(22, 22), (80, 80), (8000, 8100)]
    assert netparse.ranges_overlap((30000, 32767), (20000, 32000))
    assert not netparse.ranges_overlap((32001, 32767), (20000, 32000))


def test_network_overlap_is_family_aware():
    assert netparse.networks_overlap('10.42.0.0/16', '10.42.7.1/24')
    assert not netparse.networks_overlap('10.42.0.0/16', '10.43.0.0/16')
    assert not netparse.networks_overlap('10.42.0.0/16', 'fd00::/64')


@pytest.mark.parametrize('server, unusable', [
    ('127.0.0.53', True), ('127.0.0.1', True), ('::1', True), ('fe80::1%eth0', True), ('169.254.1.1', True),
    ('192.168.1.1', False), ('10.255.255.53', False), ('not-an-ip', True),
])
def test_nameservers_k3s_refuses(server, unusable):
    assert netparse.is_unusable_nameserver(server) is unusable


def test_resolv_conf():
    text = '# managed\nsearch lan\nnameserver 127.0.0.1\nnameserver 192.168.1.1\noptions edns0\n'
    assert netparse.parse_resolv_conf(text) == ['127.0.0.1', '192.168.1.1']
