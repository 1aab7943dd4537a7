# SPDX-License-Identifier: GPL-3.0-or-later
"""litestream_verify against real Litestream 0.5 replicating to a real S3 server (SeaweedFS).

Each test replicates its own database to its own path in the bucket, then breaks
something the way it breaks in production and checks the module notices.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time

import pytest

from conftest import stop, tool
from modrun import run_module

BUCKET = 'overseerr-litestream'


class Replication:
    """One database, its Litestream 0.5 sidecar, and its replica path in the bucket."""

    def __init__(self, s3, workdir, name):
        self.s3, self.workdir, self.name = s3, workdir, name
        self.db = workdir / 'db.sqlite3'
        self.config = workdir / 'litestream.yml'
        self.config.write_text(json.dumps({'dbs': [{'path': str(self.db), 'replica': {
            'type': 's3', 'bucket': BUCKET, 'path': name, 'endpoint': s3.endpoint, 'region': s3.region,
            'force-path-style': True, 'sync-interval': '1s'}}]}))
        self.proc = None
        conn = sqlite3.connect(str(self.db))
        conn.execute('PRAGMA journal_mode=wal')
        conn.execute('CREATE TABLE media_request (id INTEGER PRIMARY KEY, title TEXT, status INTEGER)')
        conn.commit()
        conn.close()
        self.rows = 0

    def env(self, **extra):
        env = {'PATH': os.environ['PATH'], 'HOME': os.environ.get('HOME', '/root'),
               'LITESTREAM_ACCESS_KEY_ID': self.s3.access_key,
               'LITESTREAM_SECRET_ACCESS_KEY': self.s3.secret_key}
        env.update(extra)
        return env

    def litestream(self, *args, env=None):
        return subprocess.run([tool('litestream')] + list(args), capture_output=True, text=True,
                              env=env or self.env(), timeout=60, check=False)

    def start(self, config=None):
        self.log = open(self.workdir / 'replicate.log', 'a')
        self.proc = subprocess.Popen([tool('litestream'), 'replicate', '-config', str(config or self.config)],
                                     env=self.env(), stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.log.close()
            self.proc = None

    def replica_txid(self):
        out = self.litestream('ltx', '-json', '-level', 'all', '-config', str(self.config), str(self.db))
        files = json.loads(out.stdout or '[]') if out.returncode == 0 else []
        return max((int(f['max_txid'], 16) for f in files), default=0)

    def write(self, count):
        before = self.replica_txid()
        conn = sqlite3.connect(str(self.db))
        conn.executemany('INSERT INTO media_request (title, status) VALUES (?, ?)',
                         [('title %d' % (self.rows + i), i % 3) for i in range(count)])
        conn.commit()
        conn.close()
        self.rows += count
        return before

    def wait_replicated(self, above, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            txid = self.replica_txid()
            if txid > above:
                return txid
            time.sleep(0.3)
        raise AssertionError('Litestream did not replicate past transaction %d within %ss:\n%s'
                             % (above, timeout, (self.workdir / 'replicate.log').read_text()[-3000:]))

    def local_txid(self):
        """The live database's Litestream position, from the LTX files of its local state."""
        state = self.workdir / '.db.sqlite3-litestream' / 'ltx'
        names = [p.name for p in state.glob('*/*.ltx')] if state.exists() else []
        return max((int(n.split('-')[1].split('.')[0], 16) for n in names), default=0)

    def start_slow(self):
        """Litestream for the same database and state, uploading once an hour: it captures
        changes locally at once and the replica does not get them (a slow or stalled upload)."""
        config = json.loads(self.config.read_text())
        config['dbs'][0]['replica']['sync-interval'] = '1h'
        slow = self.workdir / 'litestream-slow.yml'
        slow.write_text(json.dumps(config))
        self.start(slow)

    def wait_captured(self, above, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.local_txid() > above:
                return self.local_txid()
            time.sleep(0.2)
        raise AssertionError('Litestream did not capture past transaction %d within %ss' % (above, timeout))

    def delete_newest(self, newest):
        """Every replica object that ends at the newest transaction (its L0 file, compactions)."""
        gone = [k for k in self.keys() if k.endswith('-%016x.ltx' % newest)]
        assert gone, self.keys()
        for key in gone:
            self.s3.delete(key)

    def keys(self):
        return self.s3.list('%s/%s' % (BUCKET, self.name))

    def args(self, **extra):
        args = {'db_path': str(self.db), 'replica_url': 's3://%s/%s' % (BUCKET, self.name),
                'endpoint': self.s3.endpoint, 'region': self.s3.region, 'force_path_style': True,
                'access_key_id': self.s3.access_key, 'secret_access_key': self.s3.secret_key,
                'litestream_bin': tool('litestream'), 'tmp_dir': str(self.tmp)}
        args.update(extra)
        return args


@pytest.fixture
def replication(s3, tmp_path, request):
    s3.create_bucket(BUCKET)
    workdir = tmp_path / 'node'
    workdir.mkdir()
    rep = Replication(s3, workdir, request.node.name.replace('[', '-').replace(']', ''))
    rep.tmp = tmp_path / 'verify-tmp'
    rep.tmp.mkdir()
    rep.start()
    rep.wait_replicated(rep.write(40))
    try:
        yield rep
    finally:
        rep.stop()
        assert os.listdir(str(rep.tmp)) == [], 'litestream_verify left temporary files behind'


def _machine_env():
    """The module's environment as on this machine: AWS_CA_BUNDLE set for other tools."""
    env = dict(os.environ)
    env['AWS_CA_BUNDLE'] = '/etc/ssl/certs/ca-certificates.crt'
    return env


def test_replicated_database_verifies(replication, tmp_path):
    rc, result = run_module('litestream_verify', replication.args(), tmp_path, env=_machine_env())
    assert rc == 0, result['msg']
    assert result['changed'] is False and result['match'] is True and result['lag_seconds'] == 0
    assert result['live_checksum'] == result['restored_checksum']
    assert result['live_tables']['media_request'] == 40 == result['restored_tables']['media_request']
    assert result['restored_txid'] == result['replica_txid']
    assert replication.s3.secret_key not in json.dumps(result)


def test_verify_through_the_litestream_config(replication, tmp_path):
    """The sidecar's own config, credentials expanded from variables given in `environment`."""
    config = json.loads(replication.config.read_text())
    config['dbs'][0]['replica'].update({'access-key-id': '${MINIO_ACCESS_KEY}',
                                        'secret-access-key': '${MINIO_SECRET_KEY}'})
    sidecar = tmp_path / 'sidecar-litestream.yml'
    sidecar.write_text(json.dumps(config))
    args = {'db_path': str(replication.db), 'config': str(sidecar), 'tmp_dir': str(replication.tmp),
            'litestream_bin': tool('litestream'), 'check': 'quick',
            'environment': {'MINIO_ACCESS_KEY': replication.s3.access_key,
                            'MINIO_SECRET_KEY': replication.s3.secret_key}}
    rc, result = run_module('litestream_verify', args, tmp_path, env=_machine_env())
    assert rc == 0, result['msg']
    assert result['match'] is True
    assert replication.s3.secret_key not in json.dumps(result)
    rc, result = run_module('litestream_verify', dict(args, environment={}), tmp_path, env=_machine_env())
    assert rc == 1 and result['msg'].startswith('litestream ltx failed')  # no credentials: S3 refuses


def test_aws_ca_bundle_breaks_litestream_but_not_the_module(replication, tmp_path):
    """The control: the same listing with the inherited variable fails, so the module's own environment matters."""
    bare = replication.litestream('ltx', '-config', str(replication.config), str(replication.db),
                                  env=replication.env(AWS_CA_BUNDLE='/etc/ssl/certs/ca-certificates.crt'))
    assert bare.returncode != 0 and 'RootCAs' in bare.stderr
    rc, result = run_module('litestream_verify', replication.args(), tmp_path, env=_machine_env())
    assert rc == 0, result['msg']


def test_newest_replica_files_deleted_fails(replication, tmp_path):
    first = replication.wait_replicated(replication.write(10))
    time.sleep(1.2)
    newest = replication.wait_replicated(replication.write(10))
    written = time.time()
    replication.stop()
    time.sleep(3)
    replication.delete_newest(newest)
    # The trap this module exists for: Litestream restores an older database and exits 0.
    plain = replication.litestream('restore', '-o', str(tmp_path / 'plain.db'), '-config',
                                   str(replication.config), str(replication.db))
    assert plain.returncode == 0
    assert sqlite3.connect(str(tmp_path / 'plain.db')).execute('SELECT count(*) FROM media_request').fetchone()[0] == 50

    rc, result = run_module('litestream_verify', replication.args(max_lag_seconds=2), tmp_path)
    assert rc == 1
    assert 'behind the live database' in result['msg']
    assert result['match'] is False and result['evidence'] == 'ltx-position'
    # behind by the missing file's age: from its capture (just after the write) to now
    assert 3 <= result['lag_seconds'] <= time.time() - written + 2, result
    assert int(result['replica_txid'], 16) == first
    assert int(result['oldest_unreplicated_txid'], 16) == first + 1 and int(result['live_txid'], 16) >= newest
    assert result['restored_tables']['media_request'] == 50 and result['live_tables']['media_request'] == 60


def test_quiet_database_then_one_write_is_not_an_old_lag(replication, tmp_path):
    """Quiet for longer than the allowed lag, then one write the replica does not have yet:
    behind by that write's age, not by the quiet time (the replica's newest file is old)."""
    replica = replication.wait_replicated(0)
    replication.stop()
    time.sleep(6)  # quiet: the replica's newest file is now older than max_lag_seconds below
    replication.start_slow()
    time.sleep(2)  # its start-up upload done
    replication.write(1)
    replication.wait_captured(replica)
    rc, result = run_module('litestream_verify', replication.args(max_lag_seconds=4), tmp_path)
    assert rc == 0, result['msg']
    assert result['match'] is False and result['evidence'] == 'ltx-position'
    assert result['lag_seconds'] <= 4 and int(result['replica_txid'], 16) == replica
    assert result['live_tables']['media_request'] == 41 and result['restored_tables']['media_request'] == 40
    # zero tolerance: any difference fails, however young
    rc, result = run_module('litestream_verify', replication.args(max_lag_seconds=0), tmp_path)
    assert rc == 1 and '(allowed 0 s)' in result['msg'], result['msg']


def test_unreplicated_delete_is_behind_not_danger(replication, tmp_path):
    before = replication.replica_txid()
    conn = sqlite3.connect(str(replication.db))
    conn.execute('DELETE FROM media_request WHERE id > 30')  # the operator removed requests
    conn.commit()
    conn.close()
    newest = replication.wait_replicated(before)
    replication.stop()
    replication.delete_newest(newest)  # ... and the replica did not get the delete
    rc, result = run_module('litestream_verify', replication.args(), tmp_path)
    assert rc == 0, result['msg']
    assert result['evidence'] == 'ltx-position' and result['match'] is False
    assert result['live_tables']['media_request'] == 30 and result['restored_tables']['media_request'] == 40
    time.sleep(2.2)
    rc, result = run_module('litestream_verify', replication.args(max_lag_seconds=1), tmp_path)
    assert rc == 1 and not result['msg'].startswith('DANGER')
    assert 'behind the live database (allowed 1 s)' in result['msg']
    assert 'fewer rows in media_request: a delete not replicated yet' in result['msg']


def test_flipped_byte_in_a_replica_object_fails(replication, tmp_path):
    newest = replication.wait_replicated(replication.write(25))
    replication.stop()
    # Every object that carries the newest transaction: the L0 file, and any compaction of
    # it Litestream made meanwhile (a slow machine reaches a compaction before the test
    # does, and the restore then reads the intact L1 copy).
    keys = [k for k in replication.keys() if k.endswith('-%016x.ltx' % newest)]
    assert any(k.endswith('/0000/%016x-%016x.ltx' % (newest, newest)) for k in keys), replication.keys()
    for key in keys:
        body = bytearray(replication.s3.get(key))
        body[len(body) // 2] ^= 0x01  # one bit of one byte
        replication.s3.put(key, bytes(body))
    rc, result = run_module('litestream_verify', replication.args(), tmp_path)
    assert rc == 1
    assert result['msg'].startswith('replica of %s: restoring the replica failed' % replication.db), result['msg']
    assert 'checksum mismatch' in result['msg']


def test_live_ahead_beyond_the_lag_fails_and_reports_it(replication, tmp_path):
    """Litestream stopped, then writes: nothing captures them, the lag counts from its last capture."""
    replication.stop()
    time.sleep(2.5)
    replication.write(5)
    args = replication.args(max_lag_seconds=1, capture_seconds=1)
    rc, result = run_module('litestream_verify', args, tmp_path)
    assert rc == 1
    assert 'behind the live database (allowed 1 s)' in result['msg']
    assert 'did not capture it within 1 s - is Litestream running' in result['msg']
    assert result['lag_seconds'] >= 3 and result['match'] is False and result['evidence'] == 'uncaptured'
    assert result['live_tables']['media_request'] == 45 and result['restored_tables']['media_request'] == 40
    rc, result = run_module('litestream_verify', dict(args, max_lag_seconds=600), tmp_path)
    assert rc == 0 and result['match'] is False and result['lag_seconds'] >= 3


@pytest.mark.parametrize('damage', ['empty', 'empty-new-volume', 'missing'])
def test_empty_or_missing_live_database_fails_loudly(replication, tmp_path, damage):
    replication.stop()
    for suffix in ('', '-wal', '-shm'):
        path = str(replication.db) + suffix
        if os.path.exists(path):
            os.unlink(path)
    if damage == 'empty-new-volume':  # a fresh claim: no Litestream state beside the database either
        shutil.rmtree(str(replication.workdir / '.db.sqlite3-litestream'))
    if damage != 'missing':  # what a pod started after a failed restore has
        conn = sqlite3.connect(str(replication.db))
        conn.execute('CREATE TABLE media_request (id INTEGER PRIMARY KEY, title TEXT, status INTEGER)')
        conn.commit()
        conn.close()
    rc, result = run_module('litestream_verify', replication.args(), tmp_path)
    assert rc == 1
    if damage == 'missing':
        assert 'does not exist' in result['msg'] and 'the replica holds 40 rows' in result['msg']
        assert not replication.db.exists()
        return
    assert result['msg'].startswith('DANGER: the live database'), result['msg']
    assert 'it holds 0 rows, the replica 40' in result['msg']
    if damage == 'empty':
        assert 'holds no rows at all over a replica with data' in result['msg']
    else:
        assert 'has no Litestream position' in result['msg'] and result['live_txid'] is None


def test_missing_replica_fails(replication, tmp_path):
    rc, result = run_module('litestream_verify', replication.args(replica_url='s3://%s/nothing-here' % BUCKET),
                            tmp_path)
    assert rc == 1 and 'no backup exists there' in result['msg']


def test_bad_input(replication, tmp_path):
    rc, result = run_module('litestream_verify', replication.args(replica_url='minio://x'), tmp_path)
    assert rc == 1 and 'not a Litestream replica URL' in result['msg']
    rc, result = run_module('litestream_verify', replication.args(litestream_bin='litestream-0.3-missing'), tmp_path)
    assert rc == 1 and 'not found' in result['msg']
    rc, result = run_module('litestream_verify', replication.args(secret_access_key='wrong-secret'), tmp_path)
    assert rc == 1 and 'wrong-secret' not in json.dumps(result)
