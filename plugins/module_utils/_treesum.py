# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checksum manifests of a directory tree: record once, verify later.

A manifest maps each relative path to its type, size, mode and SHA-256 (files) or
target (symlinks, recorded and never followed, so nothing outside the tree is read).
The root digest is SHA-256 over the sorted entries, so one value stands for the tree.
Files are streamed in 1 MiB blocks through one reused buffer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat

MANIFEST_VERSION = 1
_BLOCK = 1024 * 1024


class TreeError(Exception):
    pass


def file_sha256(path: str, block: int = _BLOCK) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(block)
    view = memoryview(buffer)
    with open(path, 'rb', buffering=0) as handle:
        while True:
            size = handle.readinto(buffer)
            if not size:
                break
            digest.update(view[:size])
    return digest.hexdigest()


def excluded(relpath: str, patterns: list) -> bool:
    """True when the path, or a directory above it, matches a pattern (fnmatch)."""
    parts = relpath.split('/')
    for pattern in patterns:
        for depth in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase('/'.join(parts[:depth]), pattern):
                return True
    return False


def entry(full: str, st: os.stat_result) -> dict:
    """Type and mode; size and SHA-256 of a file, target of a link (never followed)."""
    mode = '%04o' % stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return {'type': 'link', 'mode': mode, 'target': os.readlink(full)}
    if stat.S_ISREG(st.st_mode):
        return {'type': 'file', 'mode': mode, 'size': st.st_size, 'sha256': file_sha256(full)}
    if stat.S_ISDIR(st.st_mode):
        return {'type': 'dir', 'mode': mode}
    return {'type': 'other', 'mode': mode}


def scan(top: str, exclude: list | None = None, skip: tuple = ()) -> dict:
    """Every entry under ``top`` by relative path; ``skip`` holds absolute paths to leave out."""
    exclude = list(exclude or [])
    try:
        top_st = os.stat(top)
    except FileNotFoundError:
        raise TreeError('%s does not exist' % top)
    if not stat.S_ISDIR(top_st.st_mode):
        raise TreeError('%s is not a directory' % top)
    skip_set = set(os.path.abspath(p) for p in skip)
    entries = {}
    for root, dirs, files in os.walk(top, followlinks=False):
        rel_root = os.path.relpath(root, top)
        kept = []
        for name in sorted(dirs):
            rel = name if rel_root == '.' else rel_root + '/' + name
            if not excluded(rel, exclude):
                kept.append(name)
        dirs[:] = kept
        for name in kept + sorted(files):
            full = os.path.join(root, name)
            rel = name if rel_root == '.' else rel_root + '/' + name
            if os.path.abspath(full) in skip_set or excluded(rel, exclude):
                continue
            try:
                st = os.lstat(full)
            except FileNotFoundError:  # vanished while walking
                continue
            entries[rel] = entry(full, st)
    return entries


def root_digest(entries: dict) -> str:
    digest = hashlib.sha256()
    for rel in sorted(entries):
        digest.update(json.dumps([rel, entries[rel]], sort_keys=True, separators=(',', ':')).encode('utf-8'))
        digest.update(b'\n')
    return digest.hexdigest()


def manifest(top: str, entries: dict, exclude: list) -> dict:
    files = [e for e in entries.values() if e['type'] == 'file']
    return {
        'version': MANIFEST_VERSION,
        'algorithm': 'sha256',
        'path': top,
        'exclude': list(exclude),
        'root_digest': root_digest(entries),
        'files': len(files),
        'bytes': sum(e['size'] for e in files),
        'entries': entries,
    }


def dumps(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + '\n'


def load(path: str) -> dict:
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise TreeError('manifest %s does not exist (record one with state=recorded first)' % path)
    except (OSError, ValueError) as exc:
        raise TreeError('cannot read manifest %s: %s' % (path, exc))
    if not isinstance(data, dict) or data.get('version') != MANIFEST_VERSION or 'entries' not in data:
        raise TreeError('manifest %s has an unknown format (want version %d)' % (path, MANIFEST_VERSION))
    return data


def compare(recorded: dict, current: dict) -> dict:
    """``added``, ``removed`` and ``modified`` relative paths (sorted)."""
    return {
        'added': sorted(set(current) - set(recorded)),
        'removed': sorted(set(recorded) - set(current)),
        'modified': sorted(p for p in set(recorded) & set(current) if recorded[p] != current[p]),
    }
