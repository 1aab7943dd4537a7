# SPDX-License-Identifier: GPL-3.0-or-later
"""k3s_runtime_cleanup on real processes: a stand-in shim under a data directory, with a
child and a grandchild whose command lines name nothing of K3s, as container processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from modrun import run_module


def _alive(pid: int) -> bool:
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rpartition(')')[2].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def _tree(root: int) -> set:
    """root and its descendants, from /proc."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parents[int(entry)] = int(handle.read().rpartition(')')[2].split()[1])
            except OSError:
                pass
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(p for p, parent in parents.items() if parent == pid and p not in found)
    return found


def test_the_shims_whole_tree_is_killed_and_nothing_else(tmp_path):
    data = tmp_path / 'k3s'
    shim = data / 'data' / '8c2b0f' / 'bin' / 'containerd-shim-runc-v2'
    shim.parent.mkdir(parents=True)
    shutil.copy('/bin/sh', str(shim))
    # The cgroup rules are off: on the test machine only the data directory may match.
    args = {'data_dir': str(data), 'units': [], 'cgroup_roots': [], 'mount_paths': [], 'timeout': 10}
    pod = subprocess.Popen([str(shim), '-c', '(sleep 300; :) & sleep 300 & wait'], start_new_session=True)
    bystander = subprocess.Popen(['sleep', '300'])
    try:
        deadline = time.monotonic() + 10
        while len(_tree(pod.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = _tree(pod.pid)
        assert len(tree) == 4, tree

        rc, planned = run_module('k3s_runtime_cleanup', args, tmp_path, check_mode=True)
        assert rc == 0 and planned['changed'] is True
        assert {p['pid'] for p in planned['killed']} == tree
        assert all(_alive(pid) for pid in tree)

        rc, result = run_module('k3s_runtime_cleanup', args, tmp_path, diff=True)
        assert rc == 0 and result['changed'] is True, result
        assert {p['pid'] for p in result['killed']} == tree
        assert {p['name'] for p in result['killed']} == {'containerd-shim', 'sleep'}
        assert 'sleep 300' not in str(result), 'arguments are never reported'
        assert pod.wait(timeout=10) == -signal.SIGKILL
        assert not any(_alive(pid) for pid in tree)
        assert bystander.poll() is None

        rc, again = run_module('k3s_runtime_cleanup', args, tmp_path)
        assert rc == 0 and (again['changed'], again['killed'], again['unmounted']) == (False, [], [])
    finally:
        bystander.kill()
        bystander.wait()
        for pid in _tree(pod.pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        pod.wait()
