# SPDX-License-Identifier: GPL-3.0-or-later
"""write_atomic with a real AnsibleModule: content, modes, no temporary file left."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _files as files


@pytest.fixture
def module():
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={})


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_gets_the_asked_mode_not_the_umask_one(module, tmp_path):
    path = tmp_path / 'records' / 'host-state.json'
    files.write_atomic(module, str(path), '{}', mode=0o600, make_dir_mode=0o700)
    assert path.read_text() == '{}'
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert os.listdir(path.parent) == ['host-state.json']


def test_existing_file_keeps_its_mode_when_none_is_asked(module, tmp_path):
    path = tmp_path / 'dynamic.yml'
    path.write_text('old\n')
    os.chmod(path, 0o640)
    inode = os.stat(path).st_ino
    files.write_atomic(module, str(path), 'new\n')
    assert path.read_text() == 'new\n' and _mode(path) == 0o640
    assert os.stat(path).st_ino != inode  # replaced by rename, never written in place
    assert os.listdir(tmp_path) == ['dynamic.yml']


def test_missing_directory_without_make_dir_raises(module, tmp_path):
    with pytest.raises(OSError):
        files.write_atomic(module, str(tmp_path / 'absent' / 'x'), 'x')
