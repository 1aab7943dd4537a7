# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""file_sha256: the digest sha256sum gives, read once while the file stays the same."""

from __future__ import annotations

import hashlib
import os

from ansible_collections.brmartin.k3s_migration.plugins.lookup import file_sha256 as plugin


def _counting(monkeypatch):
    reads = []
    real = plugin.treesum.file_sha256

    def digest(path):
        reads.append(path)
        return real(path)
    monkeypatch.setattr(plugin.treesum, 'file_sha256', digest)
    return reads


def test_digest_is_sha256_and_is_remembered(tmp_path, monkeypatch):
    reads = _counting(monkeypatch)
    f = tmp_path / 'k3s'
    f.write_bytes(b'binary' * 1000)
    cache = str(tmp_path / 'cache' / 'sums.json')
    want = hashlib.sha256(b'binary' * 1000).hexdigest()
    assert plugin.file_sha256([str(f)], cache) == [want]
    assert plugin.file_sha256([str(f)], cache) == [want]
    assert reads == [str(f)]
    assert oct(os.stat(cache).st_mode & 0o777) == '0o600'


def test_a_changed_file_is_read_again_even_with_its_old_mtime(tmp_path, monkeypatch):
    reads = _counting(monkeypatch)
    f = tmp_path / 'images.tar.zst'
    f.write_bytes(b'a' * 100)
    cache = str(tmp_path / 'sums.json')
    plugin.file_sha256([str(f)], cache)
    st = os.stat(f)
    f.write_bytes(b'b' * 100)  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime moved
    assert plugin.file_sha256([str(f)], cache) == [hashlib.sha256(b'b' * 100).hexdigest()]
    assert len(reads) == 2


def test_missing_and_non_files_give_empty_strings(tmp_path):
    cache = str(tmp_path / 'sums.json')
    assert plugin.file_sha256([str(tmp_path / 'absent'), str(tmp_path)], cache) == ['', '']


def test_an_unreadable_cache_costs_only_the_reading(tmp_path):
    f = tmp_path / 'k3s'
    f.write_bytes(b'x')
    cache = tmp_path / 'sums.json'
    cache.write_text('not json')
    assert plugin.file_sha256([str(f)], str(cache)) == [hashlib.sha256(b'x').hexdigest()]
