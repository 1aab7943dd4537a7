# SPDX-License-Identifier: GPL-3.0-or-later
"""sqlite_integrity and tree_checksum run as modules: results, changed, check mode, failures."""

from __future__ import annotations

import json
import sqlite3

from modrun import run_module


def _db(path, rows=10):
    conn = sqlite3.connect(str(path))
    conn.execute('CREATE TABLE user (id INTEGER PRIMARY KEY, email TEXT)')
    conn.executemany('INSERT INTO user (email) VALUES (?)', [('u%d@example.org' % i,) for i in range(rows)])
    conn.commit()
    conn.close()
    return path


def test_sqlite_integrity_module(tmp_path):
    db = _db(tmp_path / 'db.sqlite3')
    rc, result = run_module('sqlite_integrity', {'path': str(db), 'expected_tables': {'user': 10}}, tmp_path)
    assert rc == 0 and result['changed'] is False and result['ok'] is True
    assert result['tables'] == {'user': 10}
    rc, again = run_module('sqlite_integrity', {'path': str(db), 'check': 'quick',
                                                'expected_checksum': result['checksum']}, tmp_path)
    assert rc == 0 and again['checksum'] == result['checksum']


def test_sqlite_integrity_module_failures(tmp_path):
    db = _db(tmp_path / 'db.sqlite3')
    rc, result = run_module('sqlite_integrity', {'path': str(db), 'expected_tables': {'user': 11, 'media': 0}}, tmp_path)
    assert rc == 1 and result['failed']
    assert result['problems'] == ['table media is missing', 'table user has 10 rows, expected at least 11']
    assert 'intact but not as expected' in result['msg']

    rc, result = run_module('sqlite_integrity', {'path': str(db), 'expected_tables': {'user': 'many'}}, tmp_path)
    assert rc == 1 and 'expected_tables.user must be a row count' in result['msg']

    missing = tmp_path / 'missing.sqlite3'
    rc, result = run_module('sqlite_integrity', {'path': str(missing)}, tmp_path)
    assert rc == 1 and 'does not exist' in result['msg'] and not missing.exists()

    noise = tmp_path / 'noise'
    noise.write_bytes(b'\x01' * 8192)
    rc, result = run_module('sqlite_integrity', {'path': str(noise)}, tmp_path)
    assert rc == 1 and 'not a SQLite database' in result['msg']


def test_tree_checksum_module_record_check_mode_and_verify(tmp_path):
    top = tmp_path / 'tree'
    top.mkdir()
    (top / 'a.txt').write_text('a')
    manifest = top / 'manifest.json'  # inside the tree: left out of it
    args = {'path': str(top), 'manifest': str(manifest), 'state': 'recorded'}

    rc, result = run_module('tree_checksum', args, tmp_path, check_mode=True, diff=True)
    assert rc == 0 and result['changed'] is True and not manifest.exists()
    assert result['diff']['before'] == {} and result['diff']['after']['files'] == 1

    rc, result = run_module('tree_checksum', args, tmp_path)
    assert rc == 0 and result['changed'] is True and manifest.exists()
    written = manifest.read_bytes()
    assert manifest.stat().st_mode & 0o777 == 0o644
    assert list(json.loads(written)['entries']) == ['a.txt']

    rc, result = run_module('tree_checksum', args, tmp_path)
    assert rc == 0 and result['changed'] is False and manifest.read_bytes() == written

    verify = dict(args, state='verified')
    rc, result = run_module('tree_checksum', verify, tmp_path)
    assert rc == 0 and result['changed'] is False
    assert (result['added'], result['removed'], result['modified']) == ([], [], [])

    (top / 'a.txt').write_text('b')
    (top / 'b.txt').write_text('b')
    rc, result = run_module('tree_checksum', verify, tmp_path)
    assert rc == 1 and result['added'] == ['b.txt'] and result['modified'] == ['a.txt']
    assert 'differs from manifest' in result['msg'] and manifest.read_bytes() == written

    rc, result = run_module('tree_checksum', args, tmp_path, check_mode=True)
    assert rc == 0 and result['changed'] is True and manifest.read_bytes() == written


def test_tree_checksum_module_missing_manifest_is_not_created(tmp_path):
    manifest = tmp_path / 'absent.json'
    rc, result = run_module('tree_checksum', {'path': str(tmp_path), 'manifest': str(manifest)}, tmp_path)
    assert rc == 1 and 'record one with state=recorded first' in result['msg']
    assert not manifest.exists()


def test_tree_checksum_computed_writes_nothing_and_follows_the_content(tmp_path):
    tree = tmp_path / 'charts'
    (tree / 'istiod').mkdir(parents=True)
    (tree / 'istiod' / 'values.yaml').write_text('pilot: {}\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, first = run_module('tree_checksum', {'path': str(tree), 'state': 'computed'}, tmp_path)
    assert rc == 0 and first['changed'] is False and first['files'] == 1 and 'manifest' not in first
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    rc, same = run_module('tree_checksum', {'path': str(tree), 'state': 'computed'}, tmp_path)
    assert same['root_digest'] == first['root_digest']
    (tree / 'istiod' / 'values.yaml').write_text('pilot: {autoscaleEnabled: false}\n')
    rc, other = run_module('tree_checksum', {'path': str(tree), 'state': 'computed'}, tmp_path)
    assert rc == 0 and other['root_digest'] != first['root_digest']
    rc, result = run_module('tree_checksum', {'path': str(tree), 'state': 'recorded'}, tmp_path)
    assert rc == 1 and 'manifest' in result['msg']
