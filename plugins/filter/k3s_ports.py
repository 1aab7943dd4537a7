# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: k3s_ports
short_description: The ports a K3s node binds and the ones opened for it in firewalld
version_added: 0.2.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - The one list of K3s's ports, which the preflight checks and the k3s role opens. Every
    node binds the kubelet (10250, healthz 10248), kube-proxy (10249, 10256), containerd's
    CRI streaming (10010) and flannel VXLAN (8472/udp); servers add the API server (the
    given port, 6444 internal), controller-manager 10257, cloud-controller 10258 and
    scheduler 10259, and with embedded etcd 2379-2380.
  - C(firewalld) is the part other nodes reach - VXLAN and the kubelet on every node, the
    API and etcd on servers; the rest is loopback-only or reached through the API. The
    NodePort range comes on top, from the plan.
  - Of those, C(nodes_only) are cluster-internal - VXLAN, the kubelet and etcd, reached by
    the other nodes only - and the k3s role opens them to the cluster's node addresses
    (firewalld rich rules); C(zone) is the API, which the controller (kubectl, Terraform),
    Vault's TokenReview and the agents reach, opened to the whole zone.
options:
  _input:
    description: The node's role, V(server) or V(agent).
    type: str
    required: true
  api_port:
    description: The API server's port.
    type: int
    default: 6443
  embedded_etcd:
    description: Whether the servers run embedded etcd.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The ports K3s will open on a server with embedded etcd
  ansible.builtin.debug:
    msg: "{{ ('server' | brmartin.k3s_migration.k3s_ports(api_port=6443, embedded_etcd=true)).firewalld }}"
"""

RETURN = r"""
_value:
  description:
    - C(bound) - every port the node binds; C(firewalld) - the ones other hosts reach; of
      those, C(nodes_only) - reached by the cluster's nodes only - and C(zone) - opened to
      the whole zone (C(PORT/PROTO) strings).
  type: dict
  sample: {"bound": ["8472/udp", "10010/tcp"], "firewalld": ["8472/udp", "10250/tcp", "6443/tcp"],
           "nodes_only": ["8472/udp", "10250/tcp"], "zone": ["6443/tcp"]}
"""

from ansible.errors import AnsibleFilterError

_NODE_BOUND = ('8472/udp', '10010/tcp', '10248/tcp', '10249/tcp', '10250/tcp', '10256/tcp')
_NODE_OPEN = ('8472/udp', '10250/tcp')
_SERVER_BOUND_EXTRA = ('6444/tcp', '10257/tcp', '10258/tcp', '10259/tcp')
_ETCD = ('2379-2380/tcp',)


def k3s_ports(role, api_port=6443, embedded_etcd=False):
    if role not in ('server', 'agent'):
        raise AnsibleFilterError('k3s_ports: the node role must be server or agent, got %r' % (role,))
    bound, nodes_only, zone = list(_NODE_BOUND), list(_NODE_OPEN), []
    if role == 'server':
        api = '%d/tcp' % int(api_port)
        bound += [api] + list(_SERVER_BOUND_EXTRA)
        zone.append(api)
        if embedded_etcd:
            bound += list(_ETCD)
            nodes_only += list(_ETCD)
    return {'bound': bound, 'firewalld': nodes_only + zone, 'nodes_only': nodes_only, 'zone': zone}


class FilterModule:
    def filters(self):
        return {'k3s_ports': k3s_ports}
