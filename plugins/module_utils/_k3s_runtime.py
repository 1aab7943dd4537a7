# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find, stop and unmount what K3s leaves behind once its unit is stopped.

K3s's unit has ``KillMode=process``: stopping it ends the ``k3s`` process only. The
containerd shims (``<data-dir>/data/<hash>/bin/containerd-shim-runc-v2``) and every
container process keep running. Container processes are children of a shim and carry
nothing of K3s in their command line, so matching command lines (``pkill -f``) misses
them, and killing only the shims hands them to init, still running. Here a process is
K3s's when

- its executable or ``argv[0]`` lies under the data directory (k3s's containerd, the shims);
- it sits in a K3s unit's cgroup (``/system.slice/k3s.service``: what outlived the unit);
- it sits in the kubelet's pod cgroups (``/kubepods/...``, ``/kubepods.slice/...``) at the
  root of the hierarchy (a kubelet nested in a Docker container, k3d, is not ours);

and every descendant of such a process is K3s's too. Nomad's tasks (``nomad.slice``),
Docker's own containerd and shims (``/usr/bin``) and podman's are none of these.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass

GONE_STATES = ('Z', 'X', 'x')


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    start: int
    name: str
    exe: str = ''
    argv0: str = ''
    cgroups: tuple = ()

    def describe(self) -> dict:
        """What is reported about a process: never its arguments (a container's may hold secrets)."""
        return {'pid': self.pid, 'name': self.name, 'exe': self.exe}


def parse_stat(text: str) -> tuple[str, str, int, int]:
    """``(comm, state, ppid, starttime)`` from ``/proc/<pid>/stat`` (comm may hold spaces and parentheses)."""
    head, sep, rest = text.rpartition(')')
    if not sep or '(' not in head:
        raise ValueError('not a /proc/<pid>/stat line: %r' % text[:80])
    fields = rest.split()
    return head.split('(', 1)[1], fields[0], int(fields[1]), int(fields[19])


def parse_cgroups(text: str) -> tuple:
    """The cgroup paths of ``/proc/<pid>/cgroup`` (v1 and v2 lines: ``id:controllers:path``)."""
    return tuple(line.split(':', 2)[2] for line in text.splitlines() if line.count(':') >= 2)


def _read(path: str) -> str:
    with open(path, 'rb') as handle:
        return handle.read().decode('utf-8', 'replace')


def read_process(pid: int, proc_dir: str = '/proc') -> Proc | None:
    """One process, or None when it is gone (or vanished while being read)."""
    base = os.path.join(proc_dir, str(pid))
    try:
        name, state, ppid, start = parse_stat(_read(base + '/stat'))
        cmdline = _read(base + '/cmdline')
        cgroups = parse_cgroups(_read(base + '/cgroup'))
    except (OSError, ValueError, IndexError):
        return None
    try:
        exe = os.readlink(base + '/exe')
    except OSError:
        exe = ''
    if exe.endswith(' (deleted)'):
        exe = exe[:-len(' (deleted)')]
    return Proc(pid, ppid, state, start, name, exe, cmdline.split('\0', 1)[0], cgroups)


def read_processes(proc_dir: str = '/proc') -> dict:
    procs = {}
    for entry in os.listdir(proc_dir):
        if entry.isdigit():
            proc = read_process(int(entry), proc_dir)
            if proc is not None:
                procs[proc.pid] = proc
    return procs


def _under(path: str, roots: tuple) -> bool:
    return any(path == r or path.startswith(r.rstrip('/') + '/') for r in roots if r)


def _unit_cgroup(units: list) -> re.Pattern | None:
    if not units:
        return None
    names = '|'.join(re.escape(u[:-len('.service')] if u.endswith('.service') else u) for u in units)
    return re.compile(r'^/(?:[^/]+\.slice/)*(?:%s)\.service(?:/|$)' % names)


def is_k3s_process(proc: Proc, data_dirs: tuple, units: list, cgroup_roots: list) -> bool:
    """Whether ``proc`` itself is K3s's (its descendants are added by :func:`k3s_processes`)."""
    if _under(proc.exe, data_dirs) or _under(proc.argv0, data_dirs):
        return True
    unit_re = _unit_cgroup(units)
    for path in proc.cgroups:
        if unit_re is not None and unit_re.match(path):
            return True
        if _under(path, tuple(cgroup_roots)):
            return True
    return False


def protected_pids(procs: dict, self_pid: int) -> set:
    """PID 1, this process and its ancestors: never signalled."""
    keep = {1, self_pid}
    pid = self_pid
    while pid in procs and procs[pid].ppid not in keep and procs[pid].ppid > 0:
        pid = procs[pid].ppid
        keep.add(pid)
    return keep


def k3s_processes(procs: dict, data_dir: str, units: list, cgroup_roots: list, protected: set = frozenset()) -> list:
    """The live processes to kill: K3s's own (see :func:`is_k3s_process`) and all their descendants."""
    data_dirs = tuple(sorted({data_dir.rstrip('/'), os.path.realpath(data_dir).rstrip('/')}))
    children = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    todo = [p.pid for p in procs.values() if is_k3s_process(p, data_dirs, units, cgroup_roots)]
    found = set()
    while todo:
        pid = todo.pop()
        if pid in found or pid in protected:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return sorted(pid for pid in found if procs[pid].state not in GONE_STATES)


def _alive(proc: Proc, proc_dir: str) -> bool:
    now = read_process(proc.pid, proc_dir)
    return now is not None and now.start == proc.start and now.state not in GONE_STATES


def _signal(proc: Proc, sig: int, proc_dir: str = '/proc') -> bool:
    """Send ``sig`` to ``proc`` if that pid is still the same process (same start time).

    Through a pidfd where the kernel has them, so a pid reused between the check and the
    signal cannot be hit. False when the process is gone.
    """
    pidfd = None
    if hasattr(os, 'pidfd_open') and hasattr(signal, 'pidfd_send_signal'):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            return False
        except OSError:
            pidfd = None
    try:
        now = read_process(proc.pid, proc_dir)
        if now is None or now.start != proc.start:
            return False
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(proc.pid, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def kill_k3s_processes(data_dir: str, units: list, cgroup_roots: list, *, proc_dir: str = '/proc',
                       timeout: float = 30.0) -> tuple[list, list]:
    """SIGSTOP every K3s process (rescanning until no new child appears), then SIGKILL them all.

    Stopping first means no process can fork a child that escapes, nor a shim reap and
    restart one, between the scan and the kill. Returns ``(killed, survivors)`` as
    :class:`Proc` lists; survivors are processes still there after ``timeout`` seconds
    (uninterruptible sleep on a hung mount, for example).
    """
    targets = {}
    for _round in range(20):
        procs = read_processes(proc_dir)
        protected = protected_pids(procs, os.getpid())
        new = [procs[p] for p in k3s_processes(procs, data_dir, units, cgroup_roots, protected) if p not in targets]
        if not new:
            break
        for proc in new:
            if _signal(proc, signal.SIGSTOP, proc_dir):
                targets[proc.pid] = proc
    for proc in targets.values():
        _signal(proc, signal.SIGKILL, proc_dir)
    deadline = time.monotonic() + timeout
    survivors = [p for p in targets.values() if _alive(p, proc_dir)]
    while survivors and time.monotonic() < deadline:
        time.sleep(0.1)
        survivors = [p for p in survivors if _alive(p, proc_dir)]
    return sorted(targets.values(), key=lambda p: p.pid), survivors


_ESCAPE = re.compile(r'\\([0-7]{3})')


def parse_mounts(text: str) -> list:
    """Mount points of ``/proc/self/mounts``, octal escapes decoded, in the table's (mount) order."""
    points = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            points.append(_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[1]))
    return points


def mounts_under(points: list, paths: list) -> list:
    """Mount points at or below ``paths`` (and their real paths), last mounted first: the order to unmount."""
    roots = tuple(sorted({os.path.normpath(p) for p in paths if p}
                         | {os.path.realpath(p) for p in paths if p}))
    return [m for m in reversed(points) if _under(m, roots)]
