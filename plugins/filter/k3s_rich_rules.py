# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: k3s_rich_rules
short_description: The firewalld rich rules that open cluster-internal K3s ports to the node addresses only
version_added: 0.2.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - One rule per node address and port - C(rule family="ipv4" source address="A" port port="P"
    protocol="T" accept) - in firewalld's own string form, so the rules read back from
    firewalld compare equal and a re-run adds nothing.
  - Each node is given as C({host, address}), as a list C([host, candidate, ...]) whose
    first non-empty candidate is the address (the host name when none is), or as a plain
    address. An address that is not an IP address or network (a host name, say) is returned
    in C(problems) naming the host, and makes no rule.
options:
  _input:
    description:
      - The cluster's nodes, each C({host, address}), C([host, candidate, ...]) or an address string.
    type: list
    elements: raw
    required: true
  ports:
    description: The ports, as C(PORT/PROTO) or C(LOW-HIGH/PROTO) strings.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The rules opening VXLAN and the kubelet to two nodes
  ansible.builtin.debug:
    msg: >-
      {{ ([{'host': 'heracles', 'address': '192.168.1.6'}, {'host': 'nyx', 'address': '192.168.1.7'}]
          | brmartin.k3s_migration.k3s_rich_rules(ports=['8472/udp', '10250/tcp'])).rules }}
"""

RETURN = r"""
_value:
  description:
    - C(rules) - the rich rules, sorted; C(problems) - one message per node whose address is
      not an IP address or network.
  type: dict
  sample: {"rules": ["rule family=\"ipv4\" source address=\"192.168.1.6\" port port=\"10250\" protocol=\"tcp\" accept"],
           "problems": []}
"""

import ipaddress

from ansible.errors import AnsibleFilterError


def k3s_rich_rules(nodes, ports):
    rules, problems = set(), []
    for node in nodes:
        if isinstance(node, dict):
            host, address = node.get('host', ''), str(node.get('address', ''))
        elif isinstance(node, (list, tuple)):
            host = str(node[0])
            address = next((str(c) for c in node[1:] if c), host)
        else:
            host, address = '', str(node)
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            problems.append('%s%r is not an IP address or network' % (host + ': ' if host else '', address))
            continue
        family = 'ipv%d' % network.version
        for spec in ports:
            port, sep, proto = str(spec).partition('/')
            if not sep or proto not in ('tcp', 'udp', 'sctp') or not port:
                raise AnsibleFilterError('k3s_rich_rules: a port is PORT/PROTO, got %r' % (spec,))
            rules.add('rule family="%s" source address="%s" port port="%s" protocol="%s" accept'
                      % (family, address, port, proto))
    return {'rules': sorted(rules), 'problems': problems}


class FilterModule:
    def filters(self):
        return {'k3s_rich_rules': k3s_rich_rules}
