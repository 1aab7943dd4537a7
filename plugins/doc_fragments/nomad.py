# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Matches NOMAD_ARGSPEC in plugins/module_utils/_nomad_api.py.
    DOCUMENTATION = r"""
options:
  nomad_addr:
    description:
      - Address of the Nomad agent's HTTP API on this host.
      - The reading modules send C(GET) requests only; M(brmartin.k3s_migration.nomad_node_drain)
        also sends the node's drain and eligibility C(POST)s.
    type: str
    default: http://127.0.0.1:4646
  nomad_token:
    description:
      - ACL token sent as C(X-Nomad-Token). Needs C(agent:read) and C(namespace:read-job);
        M(brmartin.k3s_migration.nomad_node_drain) needs C(agent:read), C(node:read) and C(node:write).
      - Defaults to the E(NOMAD_TOKEN) environment variable of the module process.
    type: str
  nomad_ca_cert:
    description:
      - CA bundle used to verify an HTTPS O(nomad_addr).
    type: path
  nomad_validate_certs:
    description:
      - Whether to verify the TLS certificate of an HTTPS O(nomad_addr).
    type: bool
    default: true
  nomad_timeout:
    description:
      - Seconds to wait for each Nomad API request.
    type: int
    default: 10
"""
