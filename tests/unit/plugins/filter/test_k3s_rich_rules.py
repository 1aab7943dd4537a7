# SPDX-License-Identifier: GPL-3.0-or-later
"""Cluster-internal ports opened to the node addresses only, as firewalld rich rules."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.brmartin.k3s_migration.plugins.filter.k3s_rich_rules import k3s_rich_rules


def test_one_rule_per_node_and_port_in_firewalld_string_form():
    out = k3s_rich_rules([{'host': 'hestia', 'address': '192.168.1.5'}, {'host': 'nyx', 'address': 'fd00::7'}],
                         ports=['8472/udp', '2379-2380/tcp'])
    assert out['problems'] == []
    # the form firewalld's Rich_Rule prints (and getRichRules returns), so a re-run adds nothing
    assert out['rules'] == sorted([
        'rule family="ipv4" source address="192.168.1.5" port port="8472" protocol="udp" accept',
        'rule family="ipv4" source address="192.168.1.5" port port="2379-2380" protocol="tcp" accept',
        'rule family="ipv6" source address="fd00::7" port port="8472" protocol="udp" accept',
        'rule family="ipv6" source address="fd00::7" port port="2379-2380" protocol="tcp" accept',
    ])


def test_a_node_known_by_name_only_is_a_problem_naming_the_host():
    out = k3s_rich_rules([{'host': 'heracles', 'address': 'k3s-lab-heracles'}, '10.89.42.0/24'], ports=['10250/tcp'])
    assert out['problems'] == ["heracles: 'k3s-lab-heracles' is not an IP address or network"]
    assert out['rules'] == ['rule family="ipv4" source address="10.89.42.0/24" port port="10250" protocol="tcp" accept']


def test_a_malformed_port_is_refused():
    with pytest.raises(AnsibleFilterError, match='PORT/PROTO'):
        k3s_rich_rules(['10.0.0.1'], ports=['10250'])


def test_the_first_address_candidate_is_used_else_the_host_name():
    # [inventory name, k3s_node_ip, ansible_host], as the k3s role passes them
    out = k3s_rich_rules([['hestia', '', '192.168.1.5'], ['nyx', '192.168.2.7', '192.168.1.7'], ['heracles', '', '']],
                         ports=['10250/tcp'])
    assert [r.split('"')[3] for r in out['rules']] == ['192.168.1.5', '192.168.2.7']
    assert out['problems'] == ["heracles: 'heracles' is not an IP address or network"]
