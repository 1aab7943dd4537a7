# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove a Litestream (0.5, LTX format) replica restores to what the live database holds.

The exit code of ``litestream restore`` is not trusted: it exits 0 with an *older*
database when the newest replica files are missing. So ``verify()``:

1. lists the replica's LTX files (``litestream ltx -json -level all``) for its position:
   the highest transaction ID and when it was written;
2. restores the latest state into a private temporary directory and checks that the
   restore reached that position;
3. runs the integrity check and content checksum on the restored copy;
4. reads the live database (read-only, one read transaction) *after* the restore, so the
   live side is never older than the replica side;
5. compares checksums and row counts. Equal: the replica is current. Different: the
   replica lags by the time since its newest file, which must stay within the allowed
   lag. A live database that is empty, or holds fewer rows than the replica, fails on
   its own: that is a pod that started on an empty database after a failed restore and
   is about to replicate it over the good backup.

Litestream gets an explicit environment (``PATH``, ``HOME``, the credentials and what the
caller adds): an inherited ``AWS_CA_BUNDLE`` makes Litestream 0.5 fail to build its S3
client ("unable to add custom RootCAs HTTPClient").
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _sqlite as sqlite_utils

DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


class LitestreamError(Exception):
    """Base class; ``details`` carries what the caller returns beside the message."""

    def __init__(self, msg: str, **details):
        super().__init__(msg)
        self.details = details


class ReplicaMissing(LitestreamError):
    pass


class ReplicaCorrupt(LitestreamError):
    pass


class ReplicaBehind(LitestreamError):
    pass


class LiveBehindReplica(LitestreamError):
    pass


class LiveMissing(LitestreamError):
    pass


class CommandFailed(LitestreamError):
    pass


def replica_url(url: str, endpoint: str | None = None, region: str | None = None,
                force_path_style: bool | None = None) -> str:
    """The replica URL with S3 options as Litestream's query parameters (kept when already set)."""
    parts = urlsplit(url)
    if parts.scheme not in ('s3', 'file', 'gs', 'abs', 'sftp', 'webdav', 'nats', 'oss'):
        raise ValueError('replica_url %r is not a Litestream replica URL (for example s3://bucket/path)' % url)
    query = dict(parse_qsl(parts.query))
    for key, value in (('endpoint', endpoint), ('region', region),
                       ('forcePathStyle', None if force_path_style is None else str(bool(force_path_style)).lower())):
        if value is not None and key not in query:
            query[key] = value
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(sorted(query.items())), ''))


def environment(access_key_id: str | None = None, secret_access_key: str | None = None,
                extra: dict | None = None, base: dict | None = None) -> dict:
    """The whole environment Litestream runs with (nothing else is inherited)."""
    base = os.environ if base is None else base
    env = {'PATH': base.get('PATH') or DEFAULT_PATH, 'HOME': base.get('HOME') or '/root'}
    for key in ('TZ', 'TMPDIR'):
        if base.get(key):
            env[key] = base[key]
    if access_key_id:
        env['LITESTREAM_ACCESS_KEY_ID'] = access_key_id
    if secret_access_key:
        env['LITESTREAM_SECRET_ACCESS_KEY'] = secret_access_key
    for key, value in (extra or {}).items():
        env[str(key)] = str(value)
    return env


def source(config: str | None, db_path: str, url: str | None) -> list:
    """The arguments that name the replica: ``-config FILE DB_PATH`` or ``REPLICA_URL``."""
    if url:
        return [url]
    return ['-config', config, db_path]


def parse_time(text: str) -> datetime.datetime:
    value = text.strip()
    if value.endswith('Z'):
        value = value[:-1] + '+00:00'
    if '.' in value:  # fractional seconds of any length
        head, dummy, tail = value.partition('.')
        digits = ''.join(c for c in tail if c.isdigit())
        zone = tail[len(digits):]
        value = '%s.%s%s' % (head, (digits + '000000')[:6], zone)
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def position(files: list) -> dict:
    """Highest transaction ID in the replica and when it was first written."""
    if not files:
        return {}
    top = max(int(f['max_txid'], 16) for f in files)
    holders = [f for f in files if int(f['max_txid'], 16) == top]
    first = min(holders, key=lambda f: parse_time(f['timestamp']))
    return {'txid': '%016x' % top, 'timestamp': first['timestamp'], 'files': len(files),
            'levels': sorted(set(int(f['level']) for f in files))}


def _failed(what: str, rc: int, out: str, err: str) -> CommandFailed:
    return CommandFailed('litestream %s failed (rc %d): %s' % (what, rc, (err or out).strip()[-800:]),
                         rc=rc, stdout=out, stderr=err)


def list_ltx(run, binary: str, src: list, env: dict) -> list:
    rc, out, err = run([binary, 'ltx', '-json', '-level', 'all'] + src, env)
    if rc != 0:
        if 'no matching backup' in (err + out):
            return []
        raise _failed('ltx', rc, out, err)
    try:
        files = json.loads(out or '[]')
    except ValueError:
        raise CommandFailed('litestream ltx printed no JSON: %s' % out[:400], rc=rc, stdout=out, stderr=err)
    return files or []


def restore(run, binary: str, src: list, env: dict, output: str) -> dict:
    rc, out, err = run([binary, 'restore', '-json', '-o', output] + src, env)
    text = err + out
    if rc != 0:
        if 'no matching backup' in text or 'no snapshots available' in text:
            raise ReplicaMissing('the replica has no backup to restore: %s' % text.strip()[-400:],
                                 rc=rc, stderr=err)
        raise ReplicaCorrupt('restoring the replica failed (rc %d): %s' % (rc, text.strip()[-800:]),
                             rc=rc, stdout=out, stderr=err)
    if not os.path.exists(output):
        raise ReplicaMissing('litestream restore exited 0 but wrote no database', rc=rc, stderr=err)
    try:
        return json.loads(out) if out.strip() else {}
    except ValueError:
        return {}


def verify(run, binary: str, src: list, env: dict, db_path: str, max_lag_seconds: int,
           check: str = 'full', tmp_dir: str | None = None, now: datetime.datetime | None = None) -> dict:
    """Restore, check and compare; returns the result dict or raises a LitestreamError."""
    files = list_ltx(run, binary, src, env)
    pos = position(files)
    if not pos:
        raise ReplicaMissing('the replica holds no LTX files for %s: no backup exists there' % db_path)
    work = tempfile.mkdtemp(prefix='litestream-verify-', dir=tmp_dir)
    try:
        summary = restore(run, binary, src, env, os.path.join(work, 'restored.db'))
        restored_txid = summary.get('txid')
        details = {'replica_txid': pos['txid'], 'replica_timestamp': pos['timestamp'],
                   'replica_files': pos['files'], 'restored_txid': restored_txid}
        if restored_txid and int(restored_txid, 16) < int(pos['txid'], 16):
            raise ReplicaCorrupt('restore stopped at transaction %s but the replica lists %s: '
                                 'replica files are missing or unreadable' % (restored_txid, pos['txid']),
                                 **details)
        try:
            restored = sqlite_utils.inspect(os.path.join(work, 'restored.db'), check)
        except sqlite_utils.SqliteError as exc:
            raise ReplicaCorrupt('the restored database is not sound: %s' % exc, **details)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        live = sqlite_utils.inspect(db_path, check)
    except sqlite_utils.MissingDatabase as exc:
        raise LiveMissing('%s; the replica holds %d rows - restore it before starting the service'
                          % (exc, sqlite_utils.total_rows(restored['tables'])), **details)
    except sqlite_utils.SqliteError as exc:
        raise LiveMissing('the live database cannot be read: %s' % exc, **details)

    details.update(restored_checksum=restored['checksum'], live_checksum=live['checksum'],
                   restored_tables=restored['tables'], live_tables=live['tables'])
    live_rows, replica_rows = sqlite_utils.total_rows(live['tables']), sqlite_utils.total_rows(restored['tables'])
    fewer = sorted(t for t, n in restored['tables'].items() if live['tables'].get(t, 0) < n)
    if live_rows < replica_rows:
        raise LiveBehindReplica(
            'DANGER: the live database %s holds %d rows, the replica %d (fewer in: %s). It is empty or '
            'older than its backup - a service that started after a failed restore. Stop its Litestream '
            'before it replicates this over the good backup, then restore.'
            % (db_path, live_rows, replica_rows, ', '.join(fewer) or '-'), **details)

    match = live['checksum'] == restored['checksum']
    now = now or datetime.datetime.now(datetime.timezone.utc)
    lag = 0 if match else max(0, int((now - parse_time(pos['timestamp'])).total_seconds()))
    details.update(match=match, lag_seconds=lag)
    if lag > max_lag_seconds:
        raise ReplicaBehind(
            'the replica of %s is %d s behind the live database (allowed %d s): its newest file (transaction '
            '%s, %s) lacks changes the live database holds - is Litestream replicating, are replica files missing?'
            % (db_path, lag, max_lag_seconds, pos['txid'], pos['timestamp']), **details)
    return details
