# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: k3s_stale
short_description: The files and directories whose copy on a node differs from the plan
version_added: 0.4.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - Compares what the k3s role would write (each item a C(path) with its C(mode), and the
    C(sha256) of its content or C(type=directory)) with the node's reading
    (M(brmartin.k3s_migration.k3s_node_info)'s RV(brmartin.k3s_migration.k3s_node_info#module:paths))
    and returns the items that differ, each with C(why).
  - The role writes a file only when it is in this list, and runs its install, configure
    and service steps at all only when something is, so the comparison is made in one place.
  - An item whose wanted C(sha256) is empty (its content is not known yet, such as the join
    token before the primary server made it) is always stale; so is a path the reading
    does not hold.
options:
  _input:
    description:
      - What the role writes - dicts with C(path), C(mode) and C(sha256) or C(type=directory)
        (other keys are kept), or C([path, sha256]) pairs of files whose mode is O(mode).
    type: list
    elements: raw
    required: true
  paths:
    description: The reading's C(paths) (per path C(exists), C(type), C(mode), C(sha256)).
    type: dict
    required: true
  mode:
    description: The mode of the files given as C([path, sha256]) pairs.
    type: str
    default: '0644'
"""

EXAMPLES = r"""
- name: Write config.yaml where the node's copy differs
  ansible.builtin.template:
    src: config.yaml.j2
    dest: /etc/rancher/k3s/config.yaml
    mode: "0600"
  when: >-
    '/etc/rancher/k3s/config.yaml' in
    ([{'path': '/etc/rancher/k3s/config.yaml', 'mode': '0600',
       'sha256': lookup('ansible.builtin.template', 'config.yaml.j2') | hash('sha256')}]
     | brmartin.k3s_migration.k3s_stale(node.paths) | map(attribute='path'))

- name: The image archives (path and checksum pairs, mode 0644) whose node copy differs
  ansible.builtin.debug:
    msg: "{{ dests | zip(checksums) | brmartin.k3s_migration.k3s_stale(node.paths, mode='0644') }}"
"""

RETURN = r"""
_value:
  description: The items that differ, in their order, each with C(why) added.
  type: list
  elements: dict
  sample: [{"path": "/etc/rancher/k3s/config.yaml", "mode": "0600", "sha256": "5e3c...", "why": "content differs"}]
"""

from ansible.errors import AnsibleFilterError


def _why(item, seen):
    """Why the node's copy (seen, its reading of item's path) is not item; '' when it is."""
    want_type = item.get('type') or 'file'
    if not seen or not seen.get('exists'):
        return 'missing'
    if seen.get('type') != want_type:
        return 'a %s, not a %s' % (seen.get('type') or 'path of unknown type', want_type)
    if seen.get('mode') != item['mode']:
        return 'mode %s, want %s' % (seen.get('mode'), item['mode'])
    if want_type == 'file' and (not item.get('sha256') or seen.get('sha256') != item['sha256']):
        return 'content differs' if item.get('sha256') else 'content not known yet'
    return ''


def k3s_stale(wanted, paths, mode='0644'):
    if not isinstance(paths, dict):
        raise AnsibleFilterError('k3s_stale: paths must be the reading\'s paths (a dict), got %s' % type(paths).__name__)
    out = []
    for item in wanted:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            item = {'path': item[0], 'mode': mode, 'sha256': item[1]}
        if not isinstance(item, dict) or 'path' not in item or 'mode' not in item:
            raise AnsibleFilterError('k3s_stale: each item needs path and mode, got %r' % (item,))
        why = _why(item, paths.get(item['path']))
        if why:
            out.append(dict(item, why=why))
    return out


class FilterModule:
    def filters(self):
        return {'k3s_stale': k3s_stale}
