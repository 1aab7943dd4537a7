# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Matches READY_CHECKS_ARGSPEC in plugins/module_utils/_k3s_node.py.
    DOCUMENTATION = r"""
options:
  ready_checks:
    description:
      - The node's readiness checks, run on the node once the unit is active; a check passes
        when its command's output (stripped) equals C(expect).
      - M(brmartin.k3s_migration.k3s_service) waits for each in turn (every 2 seconds, at most
        O(brmartin.k3s_migration.k3s_service#module:timeout) seconds each);
        M(brmartin.k3s_migration.k3s_node_info) runs each once and stops at the first that fails.
    type: list
    elements: dict
    default: []
    suboptions:
      argv:
        description: The command and its arguments.
        type: list
        elements: str
        required: true
      expect:
        description: The output that means ready.
        type: str
        required: true
      what:
        description: What the check tells, used in messages.
        type: str
        default: ready
"""
