# SPDX-License-Identifier: GPL-3.0-or-later
"""Throughput of tree_checksum and sqlite_integrity beside sha256sum, on the same files, in one run.

  .venv/bin/python scripts/bench-integrity.py [--size-mib 1024] [--db-mib 200] [--dir DIR]

Writes a 1 GiB file and a ~200 MB SQLite database (WAL, an index, text and blob columns)
under DIR (a temporary directory by default, removed afterwards), warms the page cache,
then times each tool twice and keeps the faster run. Target: tree_checksum >= 70% of
sha256sum.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'collections'))

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _sqlite as sqlite_utils  # noqa: E402
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum  # noqa: E402

MIB = 1024 * 1024


def best_of(runs, func):
    times = []
    for dummy in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(MIB)
    with open(path, 'wb') as handle:
        for i in range(size_mib):
            handle.write(block[i % 251:] + block[:i % 251])


def make_db(path: Path, size_mib: int) -> None:
    conn = sqlite3.connect(str(path))
    conn.execute('PRAGMA journal_mode=wal')
    conn.execute('CREATE TABLE media (id INTEGER PRIMARY KEY, tmdb INTEGER, title TEXT, overview TEXT, poster BLOB)')
    conn.execute('CREATE INDEX media_tmdb ON media(tmdb)')
    row = 0
    while path.stat().st_size + (Path(str(path) + '-wal').stat().st_size if Path(str(path) + '-wal').exists() else 0) < size_mib * MIB:
        conn.executemany('INSERT INTO media VALUES (?, ?, ?, ?, ?)', [
            (row + i, (row + i) * 7919 % 1000003, 'Title %d' % (row + i), 'overview ' * 40, os.urandom(600))
            for i in range(5000)])
        conn.commit()
        row += 5000
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.close()


def sha256sum(path: Path) -> None:
    subprocess.run(['sha256sum', str(path)], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--size-mib', type=int, default=1024)
    parser.add_argument('--db-mib', type=int, default=200)
    parser.add_argument('--dir')
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='bench-integrity-', dir=opts.dir))
    try:
        tree = work / 'tree'
        tree.mkdir()
        big = tree / 'big.bin'
        db = work / 'db.sqlite3'
        make_file(big, opts.size_mib)
        make_db(db, opts.db_mib)
        for path in (big, db):
            sha256sum(path)  # warm the page cache
        size, db_size = big.stat().st_size, db.stat().st_size

        t_sum = best_of(2, lambda: sha256sum(big))
        t_tree = best_of(2, lambda: treesum.scan(str(tree)))
        t_dbsum = best_of(2, lambda: sha256sum(db))
        t_full = best_of(2, lambda: sqlite_utils.inspect(str(db), 'full'))
        t_quick = best_of(2, lambda: sqlite_utils.inspect(str(db), 'quick'))

        def line(name, nbytes, seconds, ref=None):
            rate = nbytes / MIB / seconds
            extra = '' if ref is None else '  %5.1f%% of sha256sum' % (100.0 * ref / seconds)
            print('%-38s %8.0f MiB %7.2f s %8.1f MiB/s%s' % (name, nbytes / MIB, seconds, rate, extra))

        print('file: %s (%d MiB); database: %s (%.0f MiB)' % (big, size // MIB, db, db_size / MIB))
        line('sha256sum (file)', size, t_sum)
        line('tree_checksum (file)', size, t_tree, t_sum)
        line('sha256sum (database)', db_size, t_dbsum)
        line('sqlite_integrity check=full', db_size, t_full, t_dbsum)
        line('sqlite_integrity check=quick', db_size, t_quick, t_dbsum)
        ratio = t_sum / t_tree
        print('tree_checksum / sha256sum = %.2f (target >= 0.70): %s' % (ratio, 'met' if ratio >= 0.7 else 'NOT met'))
        return 0 if ratio >= 0.7 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
