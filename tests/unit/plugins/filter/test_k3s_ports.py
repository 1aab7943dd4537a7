# SPDX-License-Identifier: GPL-3.0-or-later
"""The one list of K3s's ports: what a node binds, what is opened for it, per role."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.brmartin.k3s_migration.plugins.filter.k3s_ports import k3s_ports


def test_agent_opens_vxlan_and_the_kubelet_only():
    ports = k3s_ports('agent')
    assert ports['firewalld'] == ['8472/udp', '10250/tcp']
    assert set(ports['firewalld']) < set(ports['bound']) and '6443/tcp' not in ports['bound']


def test_server_adds_its_api_port_and_etcd_only_when_embedded():
    plain = k3s_ports('server', api_port=7443)
    assert plain['firewalld'] == ['8472/udp', '10250/tcp', '7443/tcp']
    assert {'7443/tcp', '6444/tcp', '10257/tcp', '10259/tcp'} <= set(plain['bound'])
    etcd = k3s_ports('server', api_port=6443, embedded_etcd=True)
    assert '2379-2380/tcp' in etcd['firewalld'] and '2379-2380/tcp' in etcd['bound']
    assert '2379-2380/tcp' not in k3s_ports('agent', embedded_etcd=True)['firewalld']


def test_unknown_role_is_refused():
    with pytest.raises(AnsibleFilterError, match='server or agent'):
        k3s_ports('worker')


def test_only_the_api_is_opened_to_the_whole_zone():
    # etcd, the kubelet and VXLAN are reached by the other nodes only: the k3s role opens
    # them to the node addresses; the API is reached by the controller and Vault as well.
    etcd = k3s_ports('server', api_port=6443, embedded_etcd=True)
    assert etcd['nodes_only'] == ['8472/udp', '10250/tcp', '2379-2380/tcp']
    assert etcd['zone'] == ['6443/tcp']
    assert sorted(etcd['firewalld']) == sorted(etcd['nodes_only'] + etcd['zone'])
    agent = k3s_ports('agent')
    assert agent['zone'] == [] and agent['nodes_only'] == agent['firewalld']
