# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: tree_digest
short_description: The root digest of directory trees on the controller
version_added: 0.4.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - Returns, for each directory given, the SHA-256 over its sorted entries (path, type,
    mode, and the SHA-256 of each file or the target of each link) - the same value as
    M(brmartin.k3s_migration.tree_checksum)'s RV(brmartin.k3s_migration.tree_checksum#module:root_digest)
    with O(brmartin.k3s_migration.tree_checksum#module:state=computed), read in the
    controller's own process instead of a module run per tree.
  - For the stages' "did anything this stage reads change" digests (the platform role's
    files and charts, the Terraform root).
options:
  _terms:
    description: The directories, on the controller.
    type: list
    elements: path
    required: true
  exclude:
    description: Relative paths or glob patterns to leave out (a directory leaves out all below it).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: The digest of a Terraform root, to copy it only when it changed
  ansible.builtin.debug:
    msg: "{{ lookup('brmartin.k3s_migration.tree_digest', 'terraform/apps') }}"
"""

RETURN = r"""
_raw:
  description: One root digest (64 hex characters) per directory.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum


def tree_digest(terms: list, exclude: list) -> list:
    out = []
    for term in terms:
        top = os.path.abspath(os.path.expanduser(str(term)))
        try:
            out.append(treesum.root_digest(treesum.scan(top, exclude)))
        except (treesum.TreeError, OSError) as exc:
            raise AnsibleLookupError('tree_digest: %s' % exc)
    return out


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return tree_digest(terms, self.get_option('exclude'))
