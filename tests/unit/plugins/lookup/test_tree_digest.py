# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tree_digest: tree_checksum's root digest, computed on the controller."""

from __future__ import annotations

import os

import pytest

from ansible.errors import AnsibleLookupError

from ansible_collections.brmartin.k3s_migration.plugins.lookup.tree_digest import tree_digest
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum


@pytest.fixture
def tree(tmp_path):
    top = tmp_path / 'root'
    (top / 'modules' / 'app').mkdir(parents=True)
    (top / 'main.tf').write_text('resource "x" "y" {}\n')
    (top / 'modules' / 'app' / 'main.tf').write_text('variable "v" {}\n')
    (top / 'link.tf').symlink_to('main.tf')
    (top / '.terraform').mkdir()
    (top / '.terraform' / 'cache').write_text('x')
    return top


def digest(*terms, exclude=()):
    return tree_digest([str(t) for t in terms], list(exclude))


def test_the_digest_is_tree_checksums_root_digest(tree):
    want = treesum.manifest(str(tree), treesum.scan(str(tree)), [])['root_digest']
    assert digest(tree) == [want]
    other = tree.parent / 'other'
    other.mkdir()
    assert digest(tree, other) == [want, treesum.root_digest({})]


def test_any_change_below_changes_it_and_exclude_leaves_paths_out(tree):
    before = digest(tree)[0]
    without = digest(tree, exclude=['.terraform'])[0]
    (tree / '.terraform' / 'cache').write_text('y')
    assert digest(tree, exclude=['.terraform'])[0] == without
    assert digest(tree)[0] != before
    os.chmod(tree / 'main.tf', 0o600)  # the mode is part of it
    assert digest(tree, exclude=['.terraform'])[0] != without


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(AnsibleLookupError, match='does not exist'):
        digest(tmp_path / 'none')
    (tmp_path / 'file').write_text('x')
    with pytest.raises(AnsibleLookupError, match='not a directory'):
        digest(tmp_path / 'file')
