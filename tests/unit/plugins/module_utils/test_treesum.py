# SPDX-License-Identifier: GPL-3.0-or-later
"""tree_checksum logic on real directory trees."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum


@pytest.fixture
def tree(tmp_path):
    top = tmp_path / 'config'
    (top / 'db').mkdir(parents=True)
    (top / 'logs').mkdir()
    (top / 'settings.json').write_text('{"main": {"applicationTitle": "Overseerr"}}')
    (top / 'db' / 'db.sqlite3').write_bytes(b'SQLite format 3\x00' + bytes(4080))
    (top / 'logs' / 'overseerr.log').write_text('started\n')
    (top / 'empty').write_bytes(b'')
    return top


def test_streamed_digest_equals_sha256sum(tmp_path):
    big = tmp_path / 'big.bin'
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    expected = subprocess.run(['sha256sum', str(big)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert treesum.file_sha256(str(big)) == expected
    assert treesum.file_sha256(str(big), block=4096) == expected


def test_scan_records_every_entry(tree):
    entries = treesum.scan(str(tree))
    assert sorted(entries) == ['db', 'db/db.sqlite3', 'empty', 'logs', 'logs/overseerr.log', 'settings.json']
    settings = entries['settings.json']
    assert settings['type'] == 'file' and settings['size'] == len((tree / 'settings.json').read_bytes())
    assert settings['sha256'] == hashlib.sha256((tree / 'settings.json').read_bytes()).hexdigest()
    assert entries['db']['type'] == 'dir'


def test_unchanged_tree_compares_clean_and_digest_is_stable(tree):
    first = treesum.scan(str(tree))
    second = treesum.scan(str(tree))
    assert treesum.compare(first, second) == {'added': [], 'removed': [], 'modified': []}
    assert treesum.root_digest(first) == treesum.root_digest(second)


@pytest.mark.parametrize('change, kind, path', [
    (lambda t: (t / 'new.txt').write_text('x'), 'added', 'new.txt'),
    (lambda t: (t / 'empty').unlink(), 'removed', 'empty'),
    (lambda t: (t / 'settings.json').write_text('{"main": {"applicationTitle": "Overseerx"}}'), 'modified', 'settings.json'),
    (lambda t: os.chmod(t / 'settings.json', 0o600), 'modified', 'settings.json'),
    (lambda t: (t / 'empty').write_bytes(b'\0'), 'modified', 'empty'),
])
def test_each_kind_of_difference_is_named(tree, change, kind, path):
    before = treesum.scan(str(tree))
    change(tree)
    after = treesum.scan(str(tree))
    differences = treesum.compare(before, after)
    assert differences[kind] == [path]
    assert sum(len(v) for v in differences.values()) == 1
    assert treesum.root_digest(before) != treesum.root_digest(after)


def test_symlinks_are_recorded_not_followed(tree, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret').write_text('one')
    os.symlink(str(outside), str(tree / 'escape'))
    os.symlink(str(outside / 'secret'), str(tree / 'secret-link'))
    before = treesum.scan(str(tree))
    assert before['escape'] == {'type': 'link', 'mode': before['escape']['mode'], 'target': str(outside)}
    assert not any(p.startswith('escape/') for p in before)
    (outside / 'secret').write_text('two')  # content outside the tree is not part of it
    (outside / 'more').write_text('x')
    assert treesum.compare(before, treesum.scan(str(tree))) == {'added': [], 'removed': [], 'modified': []}
    os.unlink(str(tree / 'secret-link'))
    os.symlink('/etc/hostname', str(tree / 'secret-link'))
    assert treesum.compare(before, treesum.scan(str(tree)))['modified'] == ['secret-link']


def test_exclude_skips_directories_and_globs(tree):
    entries = treesum.scan(str(tree), ['logs', 'db/*.sqlite3'])
    assert sorted(entries) == ['db', 'empty', 'settings.json']


def test_skip_leaves_out_a_manifest_inside_the_tree(tree):
    manifest = tree / 'manifest.json'
    manifest.write_text('{}')
    assert 'manifest.json' not in treesum.scan(str(tree), skip=(str(manifest),))


@pytest.mark.parametrize('make, message', [
    (lambda p: None, 'does not exist'),
    (lambda p: p.write_text('x'), 'is not a directory'),
])
def test_bad_tree(tmp_path, make, message):
    path = tmp_path / 'target'
    make(path)
    with pytest.raises(treesum.TreeError, match=message):
        treesum.scan(str(path))


@pytest.mark.parametrize('content, message', [
    (None, 'does not exist'),
    ('not json', 'cannot read'),
    ('{"version": 99, "entries": {}}', 'unknown format'),
])
def test_bad_manifest(tmp_path, content, message):
    path = tmp_path / 'manifest.json'
    if content is not None:
        path.write_text(content)
    with pytest.raises(treesum.TreeError, match=message):
        treesum.load(str(path))
    assert path.exists() == (content is not None)
