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
5. compares checksums. Equal: the replica is current. Different: the positions decide.
   The live database's position is read from Litestream's own state beside it (the LTX
   files under ``.<name>-litestream/ltx/<level>/``, whose headers carry the transaction
   range and the time Litestream captured it):

   - live position *behind* the replica's, or no position at all while the replica has
     data: ``DANGER`` - a database older than its backup (a pod started on an empty or
     stale database after a failed restore) that Litestream is about to replicate over
     the good backup. A live database with no rows over a replica with rows is DANGER
     whatever the positions say;
   - live position *ahead*: the replica lacks the live database's transactions after its
     own; the lag is the age of the oldest of them (``evidence: ltx-position``), so a
     database quiet for an hour that takes one write lags by seconds, not by the hour;
   - the same position: changes Litestream has not captured yet. It is given
     ``capture_seconds`` to capture them (then as above); if it does not, the lag is
     bounded by its last capture (``evidence: uncaptured``) - Litestream is not running.

   A mismatch with ``max_lag_seconds == 0`` always fails. Fewer rows live than in the
   replica is supporting evidence only: a legitimate delete not yet replicated is
   *behind*, not DANGER.

Litestream gets an explicit environment (``PATH``, ``HOME``, the credentials and what the
caller adds): an inherited ``AWS_CA_BUNDLE`` makes Litestream 0.5 fail to build its S3
client ("unable to add custom RootCAs HTTPClient").
"""

from __future__ import annotations

import datetime
import glob
import json
import math
import os
import shutil
import struct
import tempfile
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _sqlite as sqlite_utils

DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
LTX_MAGIC = b'LTX1'
# LTX header (big-endian): magic, flags, page size, commit, min TXID, max TXID, timestamp (ms).
_LTX_HEADER = struct.Struct('>4sIIIQQq')


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


def state_dir(db_path: str) -> str:
    """Where Litestream 0.5 keeps its state for ``db_path`` unless ``meta-path`` says otherwise."""
    head, name = os.path.split(os.path.abspath(db_path))
    return os.path.join(head, '.%s-litestream' % name)


def read_ltx_header(path: str) -> dict | None:
    """Transaction range and capture time of one LTX file; None when it is not one (yet)."""
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(_LTX_HEADER.size)
    except OSError:
        return None
    if len(raw) < _LTX_HEADER.size:
        return None
    magic, dummy_flags, dummy_page, dummy_commit, min_txid, max_txid, millis = _LTX_HEADER.unpack(raw)
    if magic != LTX_MAGIC or min_txid > max_txid:
        return None
    when = datetime.datetime.fromtimestamp(millis / 1000.0, datetime.timezone.utc)
    return {'min_txid': min_txid, 'max_txid': max_txid, 'timestamp': when}


def local_files(directory: str) -> list:
    """Every readable LTX file of Litestream's local state, all levels."""
    found = []
    for path in sorted(glob.glob(os.path.join(directory, 'ltx', '*', '*.ltx'))):
        header = read_ltx_header(path)
        if header:
            header['level'] = os.path.basename(os.path.dirname(path))
            found.append(header)
    return found


def _stamp(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def unreplicated(files: list, replica_txid: int) -> dict | None:
    """The oldest local transaction the replica lacks: its range and when it was captured."""
    lacking = [f for f in files if f['max_txid'] > replica_txid]
    if not lacking:
        return None
    target, gap = replica_txid + 1, False
    holders = [f for f in lacking if f['min_txid'] <= target <= f['max_txid']]
    if not holders:  # pruned locally: the first one still here, so the lag is at least its age
        target, gap = min(f['min_txid'] for f in lacking), True
        holders = [f for f in lacking if f['min_txid'] <= target <= f['max_txid']]
    # the same transaction in a compacted file is younger than its L0 original: take the oldest
    return {'txid': '%016x' % target, 'timestamp': min(f['timestamp'] for f in holders), 'gap': gap}


def _danger(db_path: str, why: str, live_rows: int, replica_rows: int, details: dict) -> LiveBehindReplica:
    return LiveBehindReplica(
        'DANGER: the live database %s %s (it holds %d rows, the replica %d). It is empty or older than '
        'its backup - a service that started after a failed restore. Stop its Litestream before it '
        'replicates this over the good backup, then restore.' % (db_path, why, live_rows, replica_rows),
        **details)


def verify(run, binary: str, src: list, env: dict, db_path: str, max_lag_seconds: int,
           check: str = 'full', tmp_dir: str | None = None, now=None,
           state: str | None = None, capture_seconds: float = 5, sleep=time.sleep) -> dict:
    """Restore, check and compare; returns the result dict or raises a LitestreamError.

    ``now`` is a callable returning the current UTC time (tests pin it).
    """
    now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
    state = state or state_dir(db_path)
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
    if live['checksum'] == restored['checksum']:
        details.update(match=True, lag_seconds=0, evidence='content')
        return details

    details['match'] = False
    live_rows, replica_rows = sqlite_utils.total_rows(live['tables']), sqlite_utils.total_rows(restored['tables'])
    replica_txid = int(pos['txid'], 16)
    local = local_files(state)
    live_txid = max((f['max_txid'] for f in local), default=None)
    details['live_txid'] = None if live_txid is None else '%016x' % live_txid
    if live_txid is None:
        raise _danger(db_path, 'has no Litestream position (no LTX files under %s; set state_dir when '
                      "Litestream's meta-path is elsewhere) while the replica is at transaction %s"
                      % (state, pos['txid']), live_rows, replica_rows, details)
    if live_txid < replica_txid:
        raise _danger(db_path, 'is at Litestream position %s, behind its replica at %s'
                      % (details['live_txid'], pos['txid']), live_rows, replica_rows, details)
    if live_rows == 0 < replica_rows:
        raise _danger(db_path, 'holds no rows at all over a replica with data', live_rows, replica_rows, details)

    evidence = 'ltx-position'
    deadline = time.monotonic() + max(0, capture_seconds)
    while live_txid == replica_txid and time.monotonic() < deadline:
        sleep(0.5)  # Litestream reads the WAL every second: give it the time to capture
        local = local_files(state) or local
        live_txid = max(f['max_txid'] for f in local)
    oldest = unreplicated(local, replica_txid)
    if oldest is None:  # nothing captured after the replica's position: the changes are still in the WAL
        evidence = 'uncaptured'
        since = max(f['timestamp'] for f in local)
    else:
        since = oldest['timestamp']
        details['oldest_unreplicated_txid'] = oldest['txid']
    details['live_txid'] = '%016x' % live_txid
    details['lag_since'] = _stamp(since)
    lag = max(0.0, (now() - since).total_seconds())
    details.update(lag_seconds=int(math.ceil(lag)), evidence=evidence)
    fewer = sorted(t for t, n in restored['tables'].items() if live['tables'].get(t, 0) < n)
    rows_note = (' (the live database has fewer rows in %s: a delete not replicated yet)' % ', '.join(fewer)
                 if fewer else '')
    if max_lag_seconds == 0 or lag > max_lag_seconds:
        if evidence == 'uncaptured':
            why = ('the live database changed after Litestream\'s last capture (transaction %s, %s) and '
                   'Litestream did not capture it within %s s - is Litestream running for it?'
                   % (details['live_txid'], details['lag_since'], capture_seconds))
        else:
            why = ('the replica is at transaction %s; the live database holds up to %s and the oldest '
                   'change the replica lacks (transaction %s) was captured at %s%s - is Litestream '
                   'replicating, are replica files missing?'
                   % (pos['txid'], details['live_txid'], oldest['txid'], details['lag_since'],
                      ' (older local files are gone: at least this old)' if oldest['gap'] else ''))
        raise ReplicaBehind('the replica of %s is %s s behind the live database (allowed %d s): %s%s'
                            % (db_path, details['lag_seconds'] if lag >= 1 else '%.1f' % lag,
                               max_lag_seconds, why, rows_note), **details)
    return details
