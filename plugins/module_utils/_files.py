# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writing a file so that readers only ever see the old or the new content."""

from __future__ import annotations

import os
import tempfile


def write_atomic(module, path: str, text: str, mode: int | None = None, make_dir_mode: int | None = None) -> None:
    """Write ``text`` to ``path`` through a synced temporary file in the same directory.

    ``module.atomic_move`` does the rename and keeps an existing file's owner, mode and
    SELinux context (the edge's dynamic file on Fedora). A new file gets ``mode`` - set
    after the move, because ``atomic_move`` gives a file it creates the umask's mode.
    With ``mode``, an existing file gets it too. Raises OSError.
    """
    directory = os.path.dirname(path) or '.'
    if make_dir_mode is not None and not os.path.isdir(directory):
        os.makedirs(directory, make_dir_mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path)
        if mode is not None:
            os.chmod(path, mode)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_in_place(path: str, text: str) -> None:
    """Rewrite an existing file's content through its own inode (truncate, write, sync).

    For a reader that holds the inode rather than the name - a container bind-mounting
    the single file sees a renamed-over file never, this write always. The price: a
    reader can catch the file empty or half-written between the truncate and the last
    write (the edge Traefik then logs a parse error and keeps its last good
    configuration until the write's own change event). Raises OSError.
    """
    with open(path, 'r+', encoding='utf-8') as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
