# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one of this collection's modules as Ansible does: a process given its arguments as JSON.

Used by tests that check what a module (or a role, through run_playbook) returns, reports as changed or fails with,
without a playbook around it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / 'collections'


def run_module(name: str, args: dict, tmp_path: Path, *, check_mode: bool = False, diff: bool = False,
               env: dict | None = None) -> tuple[int, dict]:
    params = dict(args)
    params['_ansible_check_mode'] = check_mode
    params['_ansible_diff'] = diff
    params['_ansible_tmpdir'] = str(tmp_path)
    args_file = tmp_path / ('%s-args.json' % name)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': params}))
    process_env = dict(os.environ if env is None else env)
    process_env['PYTHONPATH'] = os.pathsep.join([str(COLLECTIONS), process_env.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, str(ROOT / 'plugins' / 'modules' / ('%s.py' % name)), str(args_file)],
                          capture_output=True, text=True, env=process_env, timeout=600, check=False)
    args_file.unlink()
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('module %s printed no JSON (rc %d): %s %s' % (name, proc.returncode, proc.stdout, proc.stderr))
    return proc.returncode, result


def run_playbook(playbook: str, variables: dict, work: Path, *args: str) -> subprocess.CompletedProcess:
    """ansible-playbook on this machine (localhost) with ``variables`` as extra vars from a file."""
    vars_file = work / 'extra-vars.json'
    vars_file.write_text(json.dumps(variables))
    try:
        return subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', playbook,
                               '-e', '@%s' % vars_file, '-e', 'ansible_python_interpreter=%s' % sys.executable]
                              + list(args), cwd=str(ROOT), capture_output=True, text=True, timeout=300, check=False,
                              env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
                                       ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1'))
    finally:
        vars_file.unlink()


def recap(proc: subprocess.CompletedProcess) -> dict:
    """The PLAY RECAP counters for localhost (ok, changed, failed, ...)."""
    for line in proc.stdout.splitlines():
        if line.startswith('localhost') and 'ok=' in line:
            return dict((k, int(v)) for k, v in (p.split('=') for p in line.split(':', 1)[1].split()))
    raise AssertionError('no play recap:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-3000:]))
