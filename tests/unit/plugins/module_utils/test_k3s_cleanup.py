# SPDX-License-Identifier: GPL-3.0-or-later
"""K3s's netfilter state goes; Nomad's CNI chains stay (the k3s-killall.sh failure)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_cleanup as cleanup
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse

FIXTURE_DIR = Path(__file__).resolve().parents[3] / 'unit' / 'fixtures'

# A Nomad client with K3s beside it: Nomad's portmap/masquerade chains (network "nomad")
# and K3s's kube-proxy, flannel and CNI chains (network "cbr0"), sharing CNI-HOSTPORT-DNAT.
SAVE = r'''*mangle
:PREROUTING ACCEPT [0:0]
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:CNI-FORWARD - [0:0]
:NOMAD-ADMIN - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A CNI-FORWARD -m comment --comment "CNI firewall plugin rules" -j NOMAD-ADMIN
-A NOMAD-ADMIN -d 172.26.64.0/20 -o nomad -j ACCEPT
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP
-A FLANNEL-FWD -s 10.42.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-5a3f1e0c2b9d4e7f8a1b2c3d - [0:0]
:CNI-DN-5a3f1e0c2b9d4e7f8a1b2 - [0:0]
:CNI-0b1c2d3e4f5a6b7c8d9e0f1a - [0:0]
:CNI-DN-0b1c2d3e4f5a6b7c8d9e0 - [0:0]
:KUBE-SERVICES - [0:0]
:FLANNEL-POSTRTG - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -s 172.26.64.2/32 -m comment --comment "name: \"nomad\" id: \"4f2c5d0e\"" -j CNI-5a3f1e0c2b9d4e7f8a1b2c3d
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -s 10.42.7.2/32 -m comment --comment "name: \"cbr0\" id: \"f00d\"" -j CNI-0b1c2d3e4f5a6b7c8d9e0f1a
-A CNI-5a3f1e0c2b9d4e7f8a1b2c3d ! -d 224.0.0.0/4 -m comment --comment "name: \"nomad\" id: \"4f2c5d0e\"" -j MASQUERADE
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"nomad\" id: \"4f2c5d0e\"" -m multiport --dports 25123 -j CNI-DN-5a3f1e0c2b9d4e7f8a1b2
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"cbr0\" id: \"f00d\"" -m multiport --dports 8443 -j CNI-DN-0b1c2d3e4f5a6b7c8d9e0
-A CNI-DN-5a3f1e0c2b9d4e7f8a1b2 -p tcp -m tcp --dport 25123 -j DNAT --to-destination 172.26.64.2:5055
-A CNI-DN-0b1c2d3e4f5a6b7c8d9e0 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.42.7.2:8443
-A CNI-0b1c2d3e4f5a6b7c8d9e0f1a ! -d 224.0.0.0/4 -m comment --comment "name: \"cbr0\" id: \"f00d\"" -j MASQUERADE
-A FLANNEL-POSTRTG -s 10.42.0.0/16 -j MASQUERADE --random-fully
COMMIT
'''


def plan():
    return cleanup.plan_iptables(netparse.parse_iptables_save(SAVE), 'cbr0')


def test_k3s_chains_go_and_nomad_chains_stay():
    chains = plan()['chains']
    assert chains == [
        ('filter', 'FLANNEL-FWD'), ('filter', 'KUBE-FIREWALL'), ('filter', 'KUBE-FORWARD'),
        ('mangle', 'KUBE-KUBELET-CANARY'),
        ('nat', 'CNI-0b1c2d3e4f5a6b7c8d9e0f1a'), ('nat', 'CNI-DN-0b1c2d3e4f5a6b7c8d9e0'), ('nat', 'FLANNEL-POSTRTG'),
        ('nat', 'KUBE-SERVICES')]
    names = {c for _t, c in chains}
    assert not names & {'NOMAD-ADMIN', 'CNI-FORWARD', 'CNI-HOSTPORT-DNAT', 'CNI-5a3f1e0c2b9d4e7f8a1b2c3d',
                        'CNI-DN-5a3f1e0c2b9d4e7f8a1b2'}


def test_only_k3s_rules_in_kept_chains_go():
    rules = plan()['rules']
    assert [(t, c) for t, c, _r in rules] == [
        ('filter', 'FORWARD'), ('filter', 'FORWARD'), ('filter', 'INPUT'),
        ('nat', 'CNI-HOSTPORT-DNAT'), ('nat', 'POSTROUTING'), ('nat', 'POSTROUTING'), ('nat', 'PREROUTING')]
    text = '\n'.join(r for _t, _c, r in rules)
    assert 'nomad' not in text
    assert '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT' not in text


def test_commands_delete_rules_then_flush_then_delete_chains():
    commands = cleanup.delete_commands('iptables', plan())
    kinds = [c[4] for c in commands]
    assert kinds == sorted(kinds, key=['-D', '-F', '-X'].index)
    dnat = next(c for c in commands if c[3:5] == ['nat', '-D'] and 'CNI-HOSTPORT-DNAT' in c)
    # The comment keeps its inner quotes as one argument, as iptables needs to match it.
    assert 'dnat name: "cbr0" id: "f00d"' in dnat
    assert dnat[:7] == ['iptables', '-w', '-t', 'nat', '-D', 'CNI-HOSTPORT-DNAT', '-p']


def test_applying_the_plan_leaves_exactly_nomads_rules():
    """Simulate the commands on the parsed tables and compare with the Nomad-only save."""
    tables = netparse.parse_iptables_save(SAVE)
    for cmd in cleanup.delete_commands('iptables', plan()):
        table, op, chain = cmd[3], cmd[4], cmd[5]
        if op == '-D':
            rule = ' '.join(['-A', chain] + [shlex.quote(a) if ' ' in a else a for a in cmd[6:]])
            body = tables[table][chain]['rules']
            match = [r for r in body if shlex.split(r) == shlex.split(rule)]
            assert match, rule
            body.remove(match[0])
        elif op == '-F':
            tables[table][chain]['rules'] = []
        else:
            del tables[table][chain]
    remaining = sorted(r for t in tables.values() for c in t.values() for r in c['rules'])
    assert remaining == sorted([
        '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
        '-A CNI-FORWARD -m comment --comment "CNI firewall plugin rules" -j NOMAD-ADMIN',
        '-A NOMAD-ADMIN -d 172.26.64.0/20 -o nomad -j ACCEPT',
        '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
        '-A POSTROUTING -s 172.26.64.2/32 -m comment --comment "name: \\"nomad\\" id: \\"4f2c5d0e\\"" '
        '-j CNI-5a3f1e0c2b9d4e7f8a1b2c3d',
        '-A CNI-5a3f1e0c2b9d4e7f8a1b2c3d ! -d 224.0.0.0/4 -m comment --comment "name: \\"nomad\\" id: '
        '\\"4f2c5d0e\\"" -j MASQUERADE',
        '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"nomad\\" id: \\"4f2c5d0e\\"" -m multiport '
        '--dports 25123 -j CNI-DN-5a3f1e0c2b9d4e7f8a1b2',
        '-A CNI-DN-5a3f1e0c2b9d4e7f8a1b2 -p tcp -m tcp --dport 25123 -j DNAT --to-destination 172.26.64.2:5055',
    ])


def test_a_host_without_k3s_has_nothing_to_remove():
    nomad_only = netparse.parse_iptables_save((FIXTURE_DIR / 'iptables_save_hestia.txt').read_text())
    assert cleanup.plan_iptables(nomad_only) == {'rules': [], 'chains': []}


def test_an_orphaned_k3s_chain_is_found_by_its_pod_network_address():
    """After a flush dropped the jump, K3s's CNI-DN chain is still K3s's: it DNATs into 10.42/16."""
    orphan = netparse.parse_iptables_save(
        '*nat\n:CNI-HOSTPORT-DNAT - [0:0]\n:CNI-DN-k3s - [0:0]\n:CNI-DN-nomad - [0:0]\n'
        '-A CNI-DN-k3s -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.42.7.2:8443\n'
        '-A CNI-DN-nomad -p tcp -m tcp --dport 25123 -j DNAT --to-destination 172.26.64.2:5055\n'
        'COMMIT\n')
    assert cleanup.plan_iptables(orphan, 'cbr0')['chains'] == []
    assert cleanup.plan_iptables(orphan, 'cbr0', ['10.42.0.0/16'])['chains'] == [('nat', 'CNI-DN-k3s')]


def _cache(results, name, network, netns=None, kind='cniCacheV1', container='f00d'):
    entry = {'kind': kind, 'containerId': container, 'ifName': 'eth0', 'networkName': network,
             'config': 'e30=', 'result': {'cniVersion': '1.0.0'}}
    if netns is not None:
        entry['netns'] = netns
    (results / name).write_text(json.dumps(entry))


def test_k3s_pod_namespaces_come_from_the_cbr0_cache_files_only(tmp_path):
    """podman's and Nomad's namespaces are named cni-<uuid> too: only libcni's cbr0 records are K3s's."""
    results = tmp_path / 'results'
    results.mkdir()
    _cache(results, 'cbr0-5e1f-eth0', 'cbr0', '/var/run/netns/cni-4b1d7e0a-2c1f-5b3e-9d8a-6f0e1c2b3a4d', container='5e1f')
    _cache(results, 'cbr0-9a8b-eth0', 'cbr0', '/var/run/netns/cni-77aa0000-0000-0000-0000-000000000001', container='9a8b')
    _cache(results, 'cbr0-9a8b-eth1', 'cbr0', '/var/run/netns/cni-77aa0000-0000-0000-0000-000000000001', container='9a8b')
    _cache(results, 'podman-3c4d-eth0', 'podman', '/run/netns/cni-0d1e2f3a-aaaa-bbbb-cccc-dddddddddddd')
    _cache(results, 'nomad-a1b2-eth0', 'nomad', '/var/run/netns/cni-12345678-1234-1234-1234-123456789abc')
    # Named like K3s's, but the record says another network: not ours.
    _cache(results, 'cbr0-lookalike-eth0', 'cbr0-lookalike', '/var/run/netns/cni-99999999-0000-0000-0000-000000000000')
    paths, problems = cleanup.cached_netns(str(results), 'cbr0')
    assert paths == ['/var/run/netns/cni-4b1d7e0a-2c1f-5b3e-9d8a-6f0e1c2b3a4d',
                     '/var/run/netns/cni-77aa0000-0000-0000-0000-000000000001']
    assert problems == []


def test_cbr0_cache_files_naming_no_namespace_are_reported(tmp_path):
    results = tmp_path / 'results'
    results.mkdir()
    _cache(results, 'cbr0-old-eth0', 'cbr0', container='old')                 # libcni < 1.1: no netns
    _cache(results, 'cbr0-v0-eth0', 'cbr0', '/var/run/netns/cni-1', kind='')  # not a v1 cache
    (results / 'cbr0-torn-eth0').write_text('{"kind": "cniCacheV1", ')
    (results / 'nomad-torn-eth0').write_text('not json')                      # not ours: silent
    paths, problems = cleanup.cached_netns(str(results), 'cbr0')
    assert paths == []
    assert [p.split(': ', 1)[0].rsplit('/', 1)[1] for p in problems] == ['cbr0-old-eth0', 'cbr0-torn-eth0', 'cbr0-v0-eth0']
    assert 'libcni < 1.1' in problems[0] and 'container old' in problems[0]


def test_no_cache_directory_means_no_k3s_namespaces(tmp_path):
    assert cleanup.cached_netns(str(tmp_path / 'missing'), 'cbr0') == ([], [])


@pytest.mark.parametrize('path, name', [
    ('/var/run/netns/cni-4b1d', 'cni-4b1d'),
    ('/run/netns/cni-4b1d', 'cni-4b1d'),
    ('cni-4b1d', 'cni-4b1d'),
    ('/proc/4242/ns/net', None),
    ('/run/netns/../k3s', None),
    ('', None),
])
def test_netns_paths_to_names(path, name):
    assert cleanup.netns_name(path) == name


def test_only_k3s_namespaces_still_present_are_deleted(tmp_path):
    """The cleanup's list: K3s's from cbr0's cache and the given list, present in the netns
    directory; podman's and Nomad's cni-* stay, and a second run finds nothing."""
    results, netns = tmp_path / 'results', tmp_path / 'netns'
    results.mkdir()
    netns.mkdir()
    for name in ('cni-k3s-1', 'cni-podman-1', 'cni-nomad-1', 'cni-extra-1'):
        (netns / name).write_text('')
    _cache(results, 'cbr0-a-eth0', 'cbr0', '/var/run/netns/cni-k3s-1')
    _cache(results, 'cbr0-b-eth0', 'cbr0', '/var/run/netns/cni-k3s-gone')      # deleted before
    _cache(results, 'podman-c-eth0', 'podman', '/run/netns/cni-podman-1')
    _cache(results, 'nomad-d-eth0', 'nomad', '/var/run/netns/cni-nomad-1')
    names, warnings = cleanup.k3s_netns_names(str(results), 'cbr0', ['/run/netns/cni-extra-1', '/proc/1/ns/net'],
                                              str(netns))
    assert names == ['cni-k3s-1', 'cni-extra-1']
    assert warnings == ['/proc/1/ns/net is not a named network namespace (%s/NAME), left in place' % netns]
    for name in names:
        (netns / name).unlink()
    assert cleanup.k3s_netns_names(str(results), 'cbr0', [], str(netns)) == ([], [])
