"""Overseerr's restore guard (terraform/modules-k8s/overseerr, the init container's script),
run as the pod runs it - /bin/sh -ec - against real Litestream 0.5 and a SeaweedFS replica.

Cases: a database on the claim is left alone; no replica and no database starts empty; a
good replica over an emptied claim is restored; a corrupted newest replica file stops the
start (non-zero) and leaves the replica byte-identical; a restore that leaves an empty file
while a replica exists stops the start too.
"""
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import tool
from test_litestream_verify import BUCKET, Replication

MODULE = Path(__file__).resolve().parents[2] / 'terraform' / 'modules-k8s' / 'overseerr'


def guard_script(db, conf):
    """The init container's script as main.tf writes it (the restore_script heredoc),
    with the module's paths replaced by the test's."""
    text = (MODULE / 'main.tf').read_text()
    body = re.search(r'restore_script = <<-EOT\n(.*?)\n\s*EOT\n', text, re.S).group(1)
    lines = body.split('\n')
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    body = '\n'.join(line[indent:] for line in lines)
    assert '${local.db_path}' in body and '${local.litestream_conf}' in body
    return body.replace('${local.db_path}', str(db)).replace('${local.litestream_conf}', str(conf))


class Pod:
    """The claim (a directory) and the guard run with the pod's environment."""

    def __init__(self, rep, tmp_path, litestream=None):
        self.rep = rep
        self.db = tmp_path / 'claim' / 'db' / 'db.sqlite3'
        self.litestream = litestream or tool('litestream')

    def run_guard(self):
        bindir = Path(self.litestream).parent
        env = self.rep.env(PATH='%s:%s' % (bindir, os.environ['PATH']))
        conf = self.rep.workdir / 'guard.yml'
        conf.write_text(self.rep.config.read_text().replace(str(self.rep.db), str(self.db)))
        return subprocess.run(['/bin/sh', '-ec', guard_script(self.db, conf)], capture_output=True,
                              text=True, env=env, timeout=120, check=False)


def rows(db):
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute('SELECT count(*) FROM media_request').fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def replicated(s3, tmp_path, request):
    s3.create_bucket(BUCKET)
    workdir = tmp_path / 'live'
    workdir.mkdir()
    rep = Replication(s3, workdir, 'guard-' + request.node.name.replace('[', '-').replace(']', ''))
    rep.start()
    rep.wait_replicated(rep.write(25))
    # A second transaction after the first sync: the newest file is an incremental one
    # (level 0) that a restore must apply on top of the snapshot.
    rep.wait_replicated(rep.write(5))
    rep.stop()
    return rep


def test_database_on_the_claim_is_left_alone(replicated, tmp_path):
    pod = Pod(replicated, tmp_path)
    pod.db.parent.mkdir(parents=True)
    pod.db.write_bytes(replicated.db.read_bytes())
    before = pod.db.read_bytes()
    out = pod.run_guard()
    assert out.returncode == 0, out.stderr
    assert 'no restore' in out.stdout and pod.db.read_bytes() == before


def test_no_replica_starts_empty(s3, tmp_path):
    s3.create_bucket(BUCKET)
    workdir = tmp_path / 'live'
    workdir.mkdir()
    rep = Replication(s3, workdir, 'guard-never-replicated')
    pod = Pod(rep, tmp_path)
    out = pod.run_guard()
    assert out.returncode == 0, out.stderr
    assert 'starts empty' in out.stdout and not pod.db.exists()


def test_good_replica_restored_over_an_emptied_claim(replicated, tmp_path):
    pod = Pod(replicated, tmp_path)
    out = pod.run_guard()
    assert out.returncode == 0, out.stderr
    assert 'restored' in out.stdout
    assert rows(pod.db) == 30


def test_corrupted_newest_replica_file_stops_the_start(replicated, tmp_path, s3):
    keys = replicated.keys()
    level0 = sorted((k for k in keys if '/0000/' in k), key=lambda k: k.rsplit('-', 1)[-1])
    assert level0, keys
    newest = level0[-1]
    body = bytearray(s3.get(newest))
    body[len(body) // 2] ^= 0xFF
    s3.put(newest, bytes(body))
    before = {k: s3.get(k) for k in replicated.keys()}
    pod = Pod(replicated, tmp_path)
    out = pod.run_guard()
    assert out.returncode != 0
    assert 'refusing to start' in out.stderr
    assert not pod.db.exists() or pod.db.stat().st_size == 0
    assert {k: s3.get(k) for k in replicated.keys()} == before


def test_restore_leaving_an_empty_file_stops_the_start(replicated, tmp_path):
    # A litestream whose restore "succeeds" but writes nothing: the guard must not trust it.
    fake = tmp_path / 'bin' / 'litestream'
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nif [ "$1" = restore ]; then for a; do db=$a; done; : > "$db"; exit 0; fi\n'
                    'exec %s "$@"\n' % tool('litestream'))
    fake.chmod(0o755)
    pod = Pod(replicated, tmp_path, litestream=str(fake))
    out = pod.run_guard()
    assert out.returncode != 0
    assert 'left no database' in out.stderr
