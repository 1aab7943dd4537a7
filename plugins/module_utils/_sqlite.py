# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only integrity check and content checksum of a SQLite database.

``inspect(path, check)`` opens the database without ever writing it, runs
``PRAGMA integrity_check`` (or ``quick_check``) and reads the schema and every row in
one read transaction, so the result is a consistent picture even while another process
writes. The checksum is SHA-256 over a canonical encoding of the content:

- the schema: every ``sqlite_master`` entry (type, name, table, SQL) in (type, name)
  order, without the root page (layout) and without ``sqlite_stat*`` (ANALYZE output);
- every table in name order (virtual tables are read through their shadow tables),
  rows ordered by the primary key and then by every column, so insert order and
  implicit rowids do not matter; each value tagged with its storage class.

Two databases with the same content get the same checksum whatever their page layout,
VACUUM history, journal mode or insert order; any changed value changes it. Committed
data still in the ``-wal`` file is read like any reader would.

How the file is opened so that nothing is created or changed beside it:

- rollback-journal database: ``mode=ro``;
- WAL database with its ``-wal`` and ``-shm`` present (a live database): ``mode=ro``;
- WAL database without ``-wal``: ``immutable=1`` (there is nothing uncommitted to read,
  and ``mode=ro`` would create ``-wal``/``-shm`` files);
- ``-wal`` without ``-shm`` (left by a crash): the pair is copied to a private
  temporary directory and read there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile

from urllib.parse import quote

HEADER = b'SQLite format 3\x00'
CHECKS = ('quick', 'full')


class SqliteError(Exception):
    """Base class: one subclass per failure class a caller reports differently."""


class MissingDatabase(SqliteError):
    pass


class NotADatabase(SqliteError):
    pass


class CorruptDatabase(SqliteError):
    def __init__(self, msg: str, problems: list | None = None):
        super().__init__(msg)
        self.problems = problems or []


class _Text(bytes):
    """A TEXT value as its raw bytes (kept apart from BLOBs, which are plain bytes)."""


def _quote_ident(name: str) -> str:
    return '"%s"' % name.replace('"', '""')


def _uri(path: str, **params: str) -> str:
    query = '&'.join('%s=%s' % item for item in sorted(params.items()))
    return 'file:%s?%s' % (quote(os.path.abspath(path)), query)


def read_header(path: str) -> bytes:
    """The first 100 bytes; raises MissingDatabase / NotADatabase. Never creates the file."""
    try:
        with open(path, 'rb') as handle:
            header = handle.read(100)
    except FileNotFoundError:
        raise MissingDatabase('database %s does not exist (nothing was created)' % path)
    except IsADirectoryError:
        raise NotADatabase('%s is a directory, not a SQLite database' % path)
    except OSError as exc:
        raise MissingDatabase('cannot read database %s: %s' % (path, exc))
    if header and not header.startswith(HEADER):
        raise NotADatabase('%s is not a SQLite database (no "SQLite format 3" header)' % path)
    if header and len(header) < 100:
        raise CorruptDatabase('%s is truncated: %d bytes, shorter than the 100-byte SQLite header'
                              % (path, len(header)))
    return header


def _connect(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.text_factory = _Text
    return conn


def _encode_value(value) -> bytes:
    if value is None:
        return b'N'
    if isinstance(value, _Text):
        return b'T%d:' % len(value) + bytes(value)
    if isinstance(value, bytes):
        return b'B%d:' % len(value) + value
    if isinstance(value, int):
        return b'I%d;' % value
    if isinstance(value, float):
        return b'R' + value.hex().encode('ascii') + b';'
    raise TypeError('unexpected SQLite value type %r' % type(value))


def _encode_str(text) -> bytes:
    if text is None:
        return b'N'
    raw = bytes(text) if isinstance(text, bytes) else text.encode('utf-8')
    return b'T%d:' % len(raw) + raw


def _text(value) -> str:
    return bytes(value).decode('utf-8', 'replace') if isinstance(value, bytes) else value


def _order_by(conn: sqlite3.Connection, table: str) -> tuple[list, str]:
    """Column names and an ORDER BY that sorts rows by primary key, then every column."""
    info = conn.execute('PRAGMA table_info(%s)' % _quote_ident(table)).fetchall()
    columns = [_text(row[1]) for row in info]
    pk = [_text(row[1]) for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    order = pk + [c for c in columns if c not in pk]
    return columns, ', '.join(_quote_ident(c) for c in order)


def _run_check(conn: sqlite3.Connection, check: str) -> list:
    pragma = 'integrity_check' if check == 'full' else 'quick_check'
    return [_text(row[0]) for row in conn.execute('PRAGMA %s' % pragma).fetchall()]


def _read(conn: sqlite3.Connection, check: str, exclude=()) -> dict:
    conn.execute('BEGIN')
    try:
        problems = _run_check(conn, check)
        if problems != ['ok']:
            raise CorruptDatabase('integrity check failed', problems)
        digest = hashlib.sha256(b'brmartin.k3s_migration sqlite content v1\n')
        schema = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name").fetchall()
        if exclude:
            schema = [row for row in schema if _text(row[2]) not in exclude]
        digest.update(b'schema')
        for row in schema:
            digest.update(b'(' + b''.join(_encode_str(v) for v in row) + b')')
        tables = {}
        for entry in schema:
            kind, name, sql = _text(entry[0]), _text(entry[1]), _text(entry[3]) or ''
            if kind != 'table' or sql.upper().startswith('CREATE VIRTUAL TABLE'):
                continue
            columns, order = _order_by(conn, name)
            digest.update(b'table' + _encode_str(name))
            count = 0
            cursor = conn.execute('SELECT %s FROM %s ORDER BY %s' % (
                ', '.join(_quote_ident(c) for c in columns), _quote_ident(name), order))
            while True:
                rows = cursor.fetchmany(2048)
                if not rows:
                    break
                count += len(rows)
                digest.update(b''.join(
                    b'(' + b''.join(_encode_value(v) for v in row) + b')' for row in rows))
            digest.update(b'rows%d;' % count)
            tables[name] = count
        journal_mode = _text(conn.execute('PRAGMA journal_mode').fetchone()[0])
        page_count = conn.execute('PRAGMA page_count').fetchone()[0]
        page_size = conn.execute('PRAGMA page_size').fetchone()[0]
    finally:
        conn.execute('COMMIT')
    return {'ok': True, 'integrity': problems, 'tables': tables, 'checksum': digest.hexdigest(),
            'journal_mode': journal_mode, 'page_count': page_count, 'page_size': page_size}


def inspect(path: str, check: str = 'full', exclude=()) -> dict:
    """Integrity check, row counts and content checksum of the database at ``path``.

    Tables named in ``exclude`` (and their indexes and triggers) are left out of the
    checksum and the row counts.

    Raises MissingDatabase, NotADatabase or CorruptDatabase. Writes nothing at ``path``
    or beside it.
    """
    if check not in CHECKS:
        raise ValueError('check must be one of %s' % ', '.join(CHECKS))
    header = read_header(path)
    size = os.path.getsize(path)
    wal_mode = len(header) >= 20 and header[18] == 2 and header[19] == 2
    wal, shm = path + '-wal', path + '-shm'
    copy_dir = None
    if not wal_mode or (os.path.exists(wal) and os.path.exists(shm)):
        uri = _uri(path, mode='ro')
    elif not os.path.exists(wal):
        uri = _uri(path, mode='ro', immutable='1')
    else:
        copy_dir = tempfile.mkdtemp(prefix='sqlite-integrity-')
        target = os.path.join(copy_dir, 'db')
        shutil.copyfile(path, target)
        shutil.copyfile(wal, target + '-wal')
        uri = _uri(target, mode='ro')
    try:
        try:
            conn = _connect(uri)
        except sqlite3.Error as exc:
            raise NotADatabase('cannot open %s read-only: %s' % (path, exc))
        try:
            result = _read(conn, check, frozenset(exclude))
        except CorruptDatabase as exc:
            raise CorruptDatabase('%s: %s: %s' % (path, exc, '; '.join(exc.problems[:5])), exc.problems)
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if 'not a database' in text:
                raise NotADatabase('%s is not a SQLite database: %s' % (path, text))
            raise CorruptDatabase('%s is corrupt: %s' % (path, text), [text])
        finally:
            conn.close()
    finally:
        if copy_dir:
            shutil.rmtree(copy_dir, ignore_errors=True)
    if wal_mode:  # PRAGMA journal_mode answers 'delete' on an immutable open
        result['journal_mode'] = 'wal'
    result.update(path=path, check=check, size_bytes=size)
    return result


def total_rows(tables: dict) -> int:
    return sum(tables.values())


def expectation_problems(result: dict, expected_checksum: str | None = None,
                         expected_tables: dict | None = None) -> list:
    """Human-readable differences between ``inspect()`` output and what is expected."""
    problems = []
    if expected_checksum and expected_checksum.lower() != result['checksum']:
        problems.append('checksum %s, expected %s' % (result['checksum'], expected_checksum.lower()))
    for table, minimum in sorted((expected_tables or {}).items()):
        if table not in result['tables']:
            problems.append('table %s is missing' % table)
        elif result['tables'][table] < int(minimum):
            problems.append('table %s has %d rows, expected at least %d'
                            % (table, result['tables'][table], int(minimum)))
    return problems
