# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: k3s_plan_problems
short_description: List what is malformed in a K3s network plan
version_added: 0.1.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - Checks C(cluster_cidr), C(service_cidr) (comma-separated CIDRs, no host bits) and
    C(node_port_range) (C(LOW-HIGH)) and returns one message per problem, naming the
    setting and the value. An empty list means the plan is well-formed.
  - Overlaps with the host are the preflight's job (M(brmartin.k3s_migration.coexistence_preflight)).
options:
  _input:
    description: The plan, with keys C(cluster_cidr), C(service_cidr), C(node_port_range).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Stop on a malformed plan
  ansible.builtin.assert:
    that: (plan | brmartin.k3s_migration.k3s_plan_problems) | length == 0
  vars:
    plan: {cluster_cidr: 10.42.0.0/16, service_cidr: 10.43.0.0/16, node_port_range: 32100-32767}
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the plan is well-formed.
  type: list
  elements: str
"""

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse


def k3s_plan_problems(plan):
    problems = []
    for key in ('cluster_cidr', 'service_cidr'):
        for cidr in str(plan.get(key) or '').split(','):
            try:
                netparse.parse_network(cidr)
            except netparse.ParseError as exc:
                problems.append('%s: %s' % (key, exc))
    try:
        netparse.parse_port_range(plan.get('node_port_range', ''))
    except netparse.ParseError as exc:
        problems.append('node_port_range: %s' % exc)
    return problems


class FilterModule:
    def filters(self):
        return {'k3s_plan_problems': k3s_plan_problems}
