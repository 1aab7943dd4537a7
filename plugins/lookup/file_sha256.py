# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: file_sha256
short_description: SHA-256 of files on the controller, remembered while a file stays the same
version_added: 0.2.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - Returns the SHA-256 (hex) of each file given, as M(ansible.builtin.stat) with
    C(checksum_algorithm=sha256) would, without a module run per file.
  - Each digest is kept in O(cache) under the file's device, inode, size, modification and
    change times (the change time cannot be set back by hand; any write moves it), so a
    file of hundreds of megabytes (a K3s binary, an images archive) is read again only when
    it changed. A cache that cannot be read or written only costs the reading.
  - A path that is not a regular file returns an empty string.
options:
  _terms:
    description: The files, on the controller.
    type: list
    elements: path
    required: true
  cache:
    description: The cache file (JSON, written atomically, mode 0600).
    type: path
    default: ~/.cache/k3s-migration/file-sha256.json
"""

EXAMPLES = r"""
- name: Stop when the airgap binary differs from the release's checksum file
  ansible.builtin.assert:
    that: lookup('brmartin.k3s_migration.file_sha256', airgap_dir ~ '/k3s') == expected_sha256
"""

RETURN = r"""
_raw:
  description: One SHA-256 (64 hex characters) per term, or an empty string where the term is not a regular file.
  type: list
  elements: str
"""

import json
import os
import stat
import tempfile

from ansible.plugins.lookup import LookupBase

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum


def _key(path: str, st: os.stat_result) -> str:
    return '%s|%d|%d|%d|%d|%d' % (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _load(cache: str) -> dict:
    try:
        with open(cache) as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(cache: str, data: dict) -> None:
    try:
        directory = os.path.dirname(cache) or '.'
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.file-sha256.')
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, sort_keys=True)
        os.replace(tmp, cache)
    except OSError:
        pass  # the next run reads the files again


def file_sha256(paths: list, cache: str) -> list:
    """The digests of ``paths``, from ``cache`` where a file's identity and times still match."""
    known = _load(cache)
    out, fresh = [], {}
    for path in paths:
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except OSError:
            out.append('')
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append('')
            continue
        key = _key(path, st)
        digest = known.get(key)
        if not (isinstance(digest, str) and len(digest) == 64):
            digest = treesum.file_sha256(path)
            fresh[key] = digest
        out.append(digest)
    if fresh:
        # entries of files since changed or gone are dropped: the cache stays the size of what is used
        kept = {k: v for k, v in known.items() if os.path.exists(k.split('|', 1)[0]) and k.split('|', 1)[0] not in
                {f.split('|', 1)[0] for f in fresh}}
        kept.update(fresh)
        _save(cache, kept)
    return out


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        cache = os.path.expanduser(self.get_option('cache'))
        return file_sha256([os.path.expanduser(str(t)) for t in terms], cache)
