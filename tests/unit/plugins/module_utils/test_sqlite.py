# SPDX-License-Identifier: GPL-3.0-or-later
"""sqlite_integrity logic on real SQLite files: corruption, WAL, layout independence."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _sqlite as sq


def _make(path, rows, *, wal=False, page_size=4096, reverse=False, churn=False, vacuum=False):
    conn = sqlite3.connect(str(path))
    conn.execute('PRAGMA page_size=%d' % page_size)
    if wal:
        conn.execute('PRAGMA journal_mode=wal')
    conn.execute('CREATE TABLE user (id INTEGER PRIMARY KEY, email TEXT UNIQUE, plex BLOB, score REAL)')
    conn.execute('CREATE TABLE log (message TEXT, level INTEGER)')  # no primary key: rowid order is insert order
    conn.execute('CREATE INDEX log_level ON log(level)')
    data = [(i, 'user%d@example.org' % i, bytes([i % 256]) * 8, i / 3.0) for i in range(rows)]
    logs = [('event %d' % i, i % 5) for i in range(rows)]
    if reverse:
        data, logs = data[::-1], logs[::-1]
    conn.executemany('INSERT INTO user VALUES (?, ?, ?, ?)', data)
    conn.executemany('INSERT INTO log VALUES (?, ?)', logs)
    conn.commit()
    if churn or vacuum:  # rows that come and go leave free pages behind
        conn.executemany('INSERT INTO log VALUES (?, ?)', [('x' * 900, 9)] * 200)
        conn.commit()
        conn.execute('DELETE FROM log WHERE level = 9')
        conn.commit()
    if vacuum:
        conn.execute('VACUUM')
    conn.close()
    return path


def _fingerprint(directory):
    """Names and bytes of every file in the directory.

    A ``-shm`` file is only listed: it is SQLite's shared-memory index, where every
    reader (read-only ones too) records its read mark.
    """
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith('-shm'):
            out[name] = 'present'
            continue
        with open(os.path.join(directory, name), 'rb') as handle:
            out[name] = hashlib.sha256(handle.read()).hexdigest()
    return out


@pytest.fixture
def db(tmp_path):
    return _make(tmp_path / 'db.sqlite3', 500)


def test_sound_database(db):
    before = _fingerprint(db.parent)
    result = sq.inspect(str(db))
    assert result['ok'] and result['integrity'] == ['ok']
    assert result['tables'] == {'user': 500, 'log': 500}
    assert result['journal_mode'] == 'delete'
    assert len(result['checksum']) == 64
    assert _fingerprint(db.parent) == before


@pytest.mark.parametrize('variant', [
    dict(reverse=True),
    dict(churn=True),
    dict(churn=True, vacuum=True),
    dict(page_size=1024),
    dict(wal=True),
    dict(reverse=True, page_size=8192, vacuum=True),
])
def test_same_content_same_checksum_whatever_the_layout(tmp_path, variant):
    a = _make(tmp_path / 'a.db', 300)
    b = _make(tmp_path / 'b.db', 300, **variant)
    if not variant.get('vacuum'):
        assert a.read_bytes() != b.read_bytes()
    assert sq.inspect(str(a))['checksum'] == sq.inspect(str(b))['checksum']


@pytest.mark.parametrize('statement', [
    "UPDATE user SET email = 'x@example.org' WHERE id = 7",
    "UPDATE user SET score = score + 1e-12 WHERE id = 7",
    "UPDATE user SET plex = X'00' WHERE id = 7",
    "UPDATE user SET plex = CAST(plex AS TEXT) WHERE id = 7",  # same bytes, TEXT instead of BLOB
    "DELETE FROM log WHERE rowid = 1",
    "INSERT INTO log VALUES (NULL, NULL)",
    "CREATE TABLE extra (x)",
])
def test_one_changed_value_changes_the_checksum(tmp_path, statement):
    a = _make(tmp_path / 'a.db', 50)
    b = _make(tmp_path / 'b.db', 50)
    conn = sqlite3.connect(str(b))
    conn.execute(statement)
    conn.commit()
    conn.close()
    assert sq.inspect(str(a))['checksum'] != sq.inspect(str(b))['checksum']


def test_uncommitted_wal_data_counts_and_files_stay_as_they_were(tmp_path):
    live = _make(tmp_path / 'live.db', 100, wal=True)
    writer = sqlite3.connect(str(live))
    writer.execute('PRAGMA wal_autocheckpoint=0')
    writer.executemany('INSERT INTO log VALUES (?, ?)', [('late %d' % i, 1) for i in range(25)])
    writer.commit()  # committed, but only in live.db-wal
    assert os.path.getsize(str(live) + '-wal') > 0
    before = _fingerprint(tmp_path)
    result = sq.inspect(str(live))
    assert result['tables']['log'] == 125
    assert result['journal_mode'] == 'wal'
    assert _fingerprint(tmp_path) == before, 'the check changed a file beside the database'
    writer.close()

    reference = _make(tmp_path / 'ref.db', 100)
    conn = sqlite3.connect(str(reference))
    conn.executemany('INSERT INTO log VALUES (?, ?)', [('late %d' % i, 1) for i in range(25)])
    conn.commit()
    conn.close()
    assert sq.inspect(str(reference))['checksum'] == result['checksum']


def test_clean_wal_database_gets_no_sidecar_files(tmp_path):
    db = _make(tmp_path / 'clean.db', 20, wal=True)
    assert sorted(os.listdir(tmp_path)) == ['clean.db']
    assert sq.inspect(str(db))['tables']['user'] == 20
    assert sorted(os.listdir(tmp_path)) == ['clean.db']


def test_wal_without_shm_is_read_from_a_private_copy(tmp_path):
    live = _make(tmp_path / 'live.db', 10, wal=True)
    writer = sqlite3.connect(str(live))
    writer.execute('PRAGMA wal_autocheckpoint=0')
    writer.execute("INSERT INTO log VALUES ('crash', 2)")
    writer.commit()
    crashed = tmp_path / 'crashed'
    crashed.mkdir()
    shutil.copyfile(str(live), str(crashed / 'db'))
    shutil.copyfile(str(live) + '-wal', str(crashed / 'db-wal'))
    writer.close()
    before = _fingerprint(crashed)
    assert sq.inspect(str(crashed / 'db'))['tables']['log'] == 11
    assert _fingerprint(crashed) == before


def test_missing_file_stays_missing(tmp_path):
    path = tmp_path / 'absent.db'
    with pytest.raises(sq.MissingDatabase, match='does not exist'):
        sq.inspect(str(path))
    assert not path.exists()
    assert os.listdir(tmp_path) == []


def test_random_bytes_are_not_a_database(tmp_path):
    path = tmp_path / 'noise.db'
    path.write_bytes(random.Random(4).randbytes(64 * 1024))
    before = path.read_bytes()
    with pytest.raises(sq.NotADatabase, match='not a SQLite database'):
        sq.inspect(str(path))
    assert path.read_bytes() == before


def test_directory_is_not_a_database(tmp_path):
    with pytest.raises(sq.NotADatabase, match='directory'):
        sq.inspect(str(tmp_path))


@pytest.mark.parametrize('keep', [60, 4096 + 100, 0.5])
def test_truncated_file_is_corrupt(db, keep):
    data = db.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    db.write_bytes(data[:cut])
    before = db.read_bytes()
    with pytest.raises(sq.CorruptDatabase):
        sq.inspect(str(db))
    assert db.read_bytes() == before


@pytest.mark.parametrize('check', ['full', 'quick'])
def test_overwritten_page_is_corrupt(db, check):
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[3 * page:4 * page] = random.Random(7).randbytes(page)  # one b-tree page of garbage
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    with pytest.raises(sq.CorruptDatabase) as caught:
        sq.inspect(str(db), check)
    assert str(db) in str(caught.value)
    assert db.read_bytes() == before


def test_unknown_check_is_refused(db):
    with pytest.raises(ValueError):
        sq.inspect(str(db), 'thorough')


def test_expectations(db):
    result = sq.inspect(str(db))
    assert sq.expectation_problems(result, result['checksum'].upper(), {'user': 500}) == []
    problems = sq.expectation_problems(result, '0' * 64, {'user': 501, 'media': 0})
    assert problems == [
        'checksum %s, expected %s' % (result['checksum'], '0' * 64),
        'table media is missing',
        'table user has 500 rows, expected at least 501',
    ]


def test_excluded_tables_leave_the_checksum_and_counts(db):
    """Another tool's bookkeeping (Litestream's _litestream_seq) can change without the
    application's data changing: excluded, it does not move the checksum; the rest still does."""
    plain = sq.inspect(str(db))
    conn = sqlite3.connect(str(db))
    conn.execute('CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)')
    conn.execute('INSERT INTO _litestream_seq VALUES (1, 1)')
    conn.commit()
    first = sq.inspect(str(db), exclude=['_litestream_seq'])
    assert sq.inspect(str(db))['checksum'] != plain['checksum']
    conn.execute('UPDATE _litestream_seq SET seq = 2')
    conn.commit()
    second = sq.inspect(str(db), exclude=['_litestream_seq'])
    assert first['checksum'] == second['checksum'] == plain['checksum']
    assert '_litestream_seq' not in second['tables'] and second['tables']['user'] == 500
    conn.execute("UPDATE user SET email = 'changed@example.org' WHERE id = 7")
    conn.commit()
    conn.close()
    assert sq.inspect(str(db), exclude=['_litestream_seq'])['checksum'] != plain['checksum']
