# SPDX-License-Identifier: GPL-3.0-or-later
"""K3s's netfilter state goes; Nomad's CNI chains stay (the k3s-killall.sh failure)."""

from __future__ import annotations

import shlex
from pathlib import Path

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
