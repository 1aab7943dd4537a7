# SPDX-License-Identifier: GPL-3.0-or-later
"""litestream_verify's pure parts: replica URL, explicit environment, replica position."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _litestream as ls


def test_replica_url_gets_s3_options_as_query_parameters():
    url = ls.replica_url('s3://overseerr-litestream/overseerr', 'http://192.168.1.5:9000', 'us-east-1', True)
    assert url == ('s3://overseerr-litestream/overseerr?endpoint=http%3A%2F%2F192.168.1.5%3A9000'
                   '&forcePathStyle=true&region=us-east-1')
    assert ls.replica_url('s3://b/p?region=eu-west-2', region='us-east-1') == 's3://b/p?region=eu-west-2'
    with pytest.raises(ValueError, match='not a Litestream replica URL'):
        ls.replica_url('minio://b/p')


def test_environment_is_explicit():
    base = {'PATH': '/venv/bin:/usr/bin', 'HOME': '/home/op', 'AWS_CA_BUNDLE': '/etc/ssl/ca.pem',
            'AWS_PROFILE': 'prod', 'LITESTREAM_CONFIG': '/etc/other.yml'}
    env = ls.environment('AK', 'SK', {'MINIO_SECRET_KEY': 'x'}, base=base)
    assert env == {'PATH': '/venv/bin:/usr/bin', 'HOME': '/home/op', 'LITESTREAM_ACCESS_KEY_ID': 'AK',
                   'LITESTREAM_SECRET_ACCESS_KEY': 'SK', 'MINIO_SECRET_KEY': 'x'}
    assert ls.environment(base={})['PATH'] == ls.DEFAULT_PATH


def test_source_arguments():
    assert ls.source('/etc/litestream.yml', '/db', None) == ['-config', '/etc/litestream.yml', '/db']
    assert ls.source(None, '/db', 's3://b/p') == ['s3://b/p']


def test_position_is_the_first_write_of_the_highest_transaction():
    files = [
        {'level': 0, 'min_txid': '0000000000000001', 'max_txid': '0000000000000003', 'timestamp': '2026-11-26T08:39:54Z'},
        {'level': 0, 'min_txid': '0000000000000004', 'max_txid': '000000000000000a', 'timestamp': '2026-11-26T08:39:56Z'},
        {'level': 1, 'min_txid': '0000000000000001', 'max_txid': '000000000000000a', 'timestamp': '2026-11-26T08:40:30Z'},
        {'level': 9, 'min_txid': '0000000000000001', 'max_txid': '0000000000000001', 'timestamp': '2026-11-26T08:39:50Z'},
    ]
    assert ls.position(files) == {'txid': '000000000000000a', 'timestamp': '2026-11-26T08:39:56Z',
                                  'files': 4, 'levels': [0, 1, 9]}
    assert ls.position([]) == {}


@pytest.mark.parametrize('text', ['2026-11-26T08:39:56Z', '2026-11-26T08:39:56.123456789Z',
                                  '2026-11-26T08:39:56+00:00', '2026-11-26T08:39:56.5'])
def test_parse_time(text):
    parsed = ls.parse_time(text)
    assert parsed.tzinfo is not None
    assert parsed.replace(microsecond=0) == datetime.datetime(2026, 11, 26, 8, 39, 56, tzinfo=datetime.timezone.utc)


# --- the live database's position, from Litestream's local LTX files -------------------

import json  # noqa: E402  (kept beside the tests that use it)
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import struct  # noqa: E402

T0 = datetime.datetime(2026, 11, 26, 8, 0, 0, tzinfo=datetime.timezone.utc)


def _ltx(directory, level, min_txid, max_txid, when, junk=b''):
    """An LTX file as Litestream 0.5 writes it: the 100-byte header, then pages (not read)."""
    path = directory / 'ltx' / str(level) / ('%016x-%016x.ltx' % (min_txid, max_txid))
    path.parent.mkdir(parents=True, exist_ok=True)
    millis = int(when.timestamp() * 1000)
    header = struct.pack('>4sIIIQQq', b'LTX1', 0, 4096, 2, min_txid, max_txid, millis).ljust(100, b'\0')
    path.write_bytes(header + junk + b'\x00' * 64)
    return path


def test_ltx_header_and_local_files(tmp_path):
    state = tmp_path / '.db.sqlite3-litestream'
    _ltx(state, 0, 4, 4, T0)
    _ltx(state, 1, 1, 3, T0 - datetime.timedelta(seconds=30))
    (state / 'ltx' / '0' / 'partial.ltx').write_bytes(b'LTX1\0\0')  # being written
    (state / 'ltx' / '0' / 'other.ltx').write_bytes(b'SQLite format 3\0'.ljust(100, b'\0'))
    files = ls.local_files(str(state))
    assert [(f['level'], f['min_txid'], f['max_txid']) for f in files] == [('0', 4, 4), ('1', 1, 3)]
    assert files[0]['timestamp'] == T0
    assert ls.state_dir('/var/lib/overseerr/db/db.sqlite3') == '/var/lib/overseerr/db/.db.sqlite3-litestream'
    assert ls.local_files(str(tmp_path / 'none')) == []


def test_unreplicated_is_the_oldest_transaction_the_replica_lacks(tmp_path):
    state = tmp_path / 'state'
    _ltx(state, 0, 5, 5, T0 + datetime.timedelta(seconds=10))
    _ltx(state, 0, 6, 6, T0 + datetime.timedelta(seconds=20))
    _ltx(state, 1, 1, 6, T0 + datetime.timedelta(seconds=30))  # the compaction is younger than its parts
    files = ls.local_files(str(state))
    assert ls.unreplicated(files, 4) == {'txid': '0000000000000005', 'gap': False,
                                         'timestamp': T0 + datetime.timedelta(seconds=10)}
    assert ls.unreplicated(files, 5)['timestamp'] == T0 + datetime.timedelta(seconds=20)
    assert ls.unreplicated(files, 6) is None
    only_late = [f for f in files if f['min_txid'] == 6]  # 5 pruned locally: the lag is at least 6's age
    assert ls.unreplicated(only_late, 4)['gap'] is True


class FakeLitestream:
    """`litestream ltx` and `litestream restore` answering from a prepared replica database."""

    def __init__(self, replica_db, txid, when):
        self.replica_db, self.txid, self.when = replica_db, txid, when

    def __call__(self, argv, env):
        if argv[1] == 'ltx':
            return 0, json.dumps([{'level': 0, 'min_txid': '%016x' % self.txid, 'max_txid': '%016x' % self.txid,
                                   'size': 200, 'timestamp': self.when.strftime('%Y-%m-%dT%H:%M:%SZ')}]), ''
        shutil.copy(self.replica_db, argv[argv.index('-o') + 1])
        return 0, json.dumps({'txid': '%016x' % self.txid}), ''


def _rows_db(path, rows, title='t%d'):
    path.parent.mkdir(exist_ok=True)
    conn = sqlite3.connect(str(path))
    conn.execute('CREATE TABLE media_request (id INTEGER PRIMARY KEY, title TEXT)')
    conn.executemany('INSERT INTO media_request (title) VALUES (?)', [(title % i,) for i in range(rows)])
    conn.commit()
    conn.close()
    return path


def _verify(tmp_path, live_rows, replica_rows, local, replica_txid=4, max_lag=60, now=T0, **kwargs):
    replica = _rows_db(tmp_path / 'replica.db', replica_rows)
    live = _rows_db(tmp_path / 'db.sqlite3', live_rows, 'changed %d' if live_rows == replica_rows else 't%d')
    state = tmp_path / '.db.sqlite3-litestream'
    for level, lo, hi, when in local:
        _ltx(state, level, lo, hi, when)
    run = FakeLitestream(replica, replica_txid, T0 - datetime.timedelta(hours=1))
    kwargs.setdefault('capture_seconds', 0)
    return ls.verify(run, 'litestream', ['s3://b/p'], {}, str(live), max_lag, 'quick', str(tmp_path),
                     now=lambda: now, sleep=lambda s: None, **kwargs)


def test_quiet_database_then_one_write_lags_by_the_write_not_the_quiet_hour(tmp_path):
    # the replica's newest file is an hour old; the one new write was captured 2 s ago
    result = _verify(tmp_path, 41, 40, [(0, 4, 4, T0 - datetime.timedelta(hours=1)),
                                        (0, 5, 5, T0 - datetime.timedelta(seconds=2))], max_lag=10)
    assert result['match'] is False and result['evidence'] == 'ltx-position'
    assert result['lag_seconds'] == 2 and result['oldest_unreplicated_txid'] == '0000000000000005'
    assert result['live_txid'] == '0000000000000005' and result['lag_since'] == '2026-11-26T07:59:58.000Z'


def test_any_mismatch_fails_with_max_lag_zero(tmp_path):
    with pytest.raises(ls.ReplicaBehind, match=r'is 0\.3 s behind the live database \(allowed 0 s\)'):
        _verify(tmp_path, 41, 40, [(0, 5, 5, T0 - datetime.timedelta(milliseconds=300))], max_lag=0)


def test_unreplicated_delete_is_behind_not_danger(tmp_path):
    result = _verify(tmp_path, 30, 40, [(0, 5, 5, T0 - datetime.timedelta(seconds=3))])
    assert result['evidence'] == 'ltx-position' and result['lag_seconds'] == 3
    with pytest.raises(ls.ReplicaBehind, match='fewer rows in media_request: a delete not replicated yet'):
        _verify(tmp_path / 'again', 30, 40, [(0, 5, 5, T0 - datetime.timedelta(seconds=3))], max_lag=1)


@pytest.mark.parametrize('local, live_rows, why', [
    ([], 40, 'has no Litestream position'),
    ([(0, 1, 3, T0)], 40, 'is at Litestream position 0000000000000003, behind its replica at 0000000000000004'),
    ([(0, 5, 5, T0)], 0, 'holds no rows at all over a replica with data'),
])
def test_danger_is_decided_by_position(tmp_path, local, live_rows, why):
    with pytest.raises(ls.LiveBehindReplica, match='^DANGER: the live database .*' + why) as caught:
        _verify(tmp_path, live_rows, 40, local)
    assert 'the replica 40' in str(caught.value)


def test_uncaptured_changes_count_from_litestreams_last_capture(tmp_path):
    slept = []
    replica = _rows_db(tmp_path / 'replica.db', 40)
    live = _rows_db(tmp_path / 'db.sqlite3', 41)
    _ltx(tmp_path / '.db.sqlite3-litestream', 0, 4, 4, T0 - datetime.timedelta(seconds=90))
    with pytest.raises(ls.ReplicaBehind, match='did not capture it within 1 s - is Litestream running') as caught:
        ls.verify(FakeLitestream(replica, 4, T0), 'litestream', ['s3://b/p'], {}, str(live), 60, 'quick',
                  str(tmp_path), now=lambda: T0, sleep=slept.append, capture_seconds=1)
    assert slept and caught.value.details['evidence'] == 'uncaptured' and caught.value.details['lag_seconds'] == 90
