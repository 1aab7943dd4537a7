#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tree_checksum
short_description: Record a checksum manifest of a directory tree, or verify the tree against it
version_added: 0.2.0
description:
  - With O(state=recorded), walks O(path) and writes a JSON manifest to O(manifest) -
    for every entry its relative path, type, size, mode and SHA-256 (files) or link
    target (symlinks), plus a root digest over all entries.
  - With O(state=verified), walks O(path) again and compares it with the manifest;
    returns RV(added), RV(removed) and RV(modified) and fails when any is not empty.
  - Symlinks are recorded, never followed, so nothing outside the tree is read. Files are
    streamed, so large files do not need memory.
  - With O(state=computed), only returns the root digest and counts (no manifest) - a
    cache key for a directory's content.
  - Only O(state=recorded) writes, and only the manifest (atomically).
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: With O(state=recorded), reports whether the manifest would change without writing it.
  diff_mode:
    support: full
    description: With O(state=recorded), returns the manifest's root digest and counts before and after.
options:
  path:
    description: The directory tree.
    type: path
    required: true
  manifest:
    description:
      - The manifest file. When it lies inside O(path) it is left out of the tree.
      - Required unless O(state=computed).
    type: path
  state:
    description: Write the manifest, verify the tree against it, or only compute the root digest.
    type: str
    choices: [recorded, verified, computed]
    default: verified
  exclude:
    description:
      - Glob patterns (Python C(fnmatch), C(*) also crosses C(/)) matched against paths
        relative to O(path); a matching directory is skipped with everything under it.
      - With O(state=verified), the patterns stored in the manifest are used as well.
    type: list
    elements: str
    default: []
seealso:
  - module: brmartin.k3s_migration.sqlite_integrity
"""

EXAMPLES = r"""
- name: A cache key for a directory's content (nothing written)
  brmartin.k3s_migration.tree_checksum:
    path: /srv/charts
    state: computed
  register: charts

- name: Record Overseerr's config directory before the move (SQLite checked separately)
  brmartin.k3s_migration.tree_checksum:
    path: /var/lib/overseerr
    manifest: /var/lib/k3s-migration/overseerr-config.manifest.json
    state: recorded
    exclude:
      - "db/*"
      - "logs"

- name: After the move, the files are the same
  brmartin.k3s_migration.tree_checksum:
    path: /mnt/overseerr-k8s
    manifest: /var/lib/k3s-migration/overseerr-config.manifest.json
    state: verified
"""

RETURN = r"""
root_digest:
  description: SHA-256 over every entry of the tree as read now.
  returned: success
  type: str
  sample: 3c9e0f4b8a2d6c1e5f7a9b0d2c4e6f8a1b3d5f7a9c0e2a4c6e8f0b2d4f6a8c0e
files:
  description: Regular files in the tree.
  returned: success
  type: int
  sample: 42
bytes:
  description: Total size of the regular files.
  returned: success
  type: int
  sample: 1073741824
manifest:
  description: The manifest file.
  returned: unless state is computed
  type: str
  sample: /var/lib/k3s-migration/overseerr-config.manifest.json
added:
  description: With O(state=verified), paths in the tree that the manifest does not list.
  returned: when state is verified
  type: list
  elements: str
  sample: ["cache/new.json"]
removed:
  description: With O(state=verified), paths the manifest lists that are gone.
  returned: when state is verified
  type: list
  elements: str
  sample: []
modified:
  description: With O(state=verified), paths whose type, size, mode, content or link target differ.
  returned: when state is verified
  type: list
  elements: str
  sample: ["settings.json"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _files as files
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum


def _summary(data):
    if not data:
        return {}
    return {'root_digest': data['root_digest'], 'files': data['files'], 'bytes': data['bytes']}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            manifest=dict(type='path'),
            state=dict(type='str', choices=['recorded', 'verified', 'computed'], default='verified'),
            exclude=dict(type='list', elements='str', default=[]),
        ),
        required_if=[('state', 'recorded', ['manifest']), ('state', 'verified', ['manifest'])],
        supports_check_mode=True,
    )
    top, manifest_path = module.params['path'], module.params['manifest']
    exclude = module.params['exclude']

    if module.params['state'] == 'computed':
        try:
            entries = treesum.scan(top, exclude)
        except treesum.TreeError as exc:
            module.fail_json(msg=str(exc))
        module.exit_json(changed=False, **_summary(treesum.manifest(top, entries, exclude)))

    if module.params['state'] == 'verified':
        try:
            recorded = treesum.load(manifest_path)
            exclude = sorted(set(exclude) | set(recorded.get('exclude', [])))
            entries = treesum.scan(top, exclude, skip=(manifest_path,))
        except treesum.TreeError as exc:
            module.fail_json(msg=str(exc), manifest=manifest_path)
        current = treesum.manifest(top, entries, exclude)
        differences = treesum.compare(recorded['entries'], entries)
        result = dict(changed=False, manifest=manifest_path, **differences)
        result.update(_summary(current))
        count = sum(len(v) for v in differences.values())
        if count:
            shown = ['%s %s' % (kind, p) for kind in ('added', 'removed', 'modified') for p in differences[kind]]
            module.fail_json(msg='%s differs from manifest %s in %d path(s): %s%s'
                             % (top, manifest_path, count, ', '.join(shown[:10]),
                                ' ...' if len(shown) > 10 else ''), **result)
        module.exit_json(**result)

    try:
        entries = treesum.scan(top, exclude, skip=(manifest_path,))
    except treesum.TreeError as exc:
        module.fail_json(msg=str(exc), manifest=manifest_path)
    if not os.path.isdir(os.path.dirname(manifest_path) or '.'):
        module.fail_json(msg='the directory of manifest %s does not exist' % manifest_path, manifest=manifest_path)
    new = treesum.manifest(top, entries, exclude)
    text = treesum.dumps(new)
    old_text, old = None, None
    if os.path.exists(manifest_path):
        with open(manifest_path, 'r', encoding='utf-8') as handle:
            old_text = handle.read()
        try:
            old = treesum.load(manifest_path)
        except treesum.TreeError:
            old = None
    changed = old_text != text
    if changed and not module.check_mode:
        try:
            files.write_atomic(module, manifest_path, text, mode=0o644)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot write manifest %s: %s' % (manifest_path, exc), manifest=manifest_path)
    result = dict(changed=changed, manifest=manifest_path, **_summary(new))
    if module._diff:
        result['diff'] = dict(before=_summary(old), after=_summary(new),
                              before_header=manifest_path, after_header=manifest_path)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
