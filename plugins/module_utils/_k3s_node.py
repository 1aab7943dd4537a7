# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A K3s node's state read in one pass (files, unit, tools on PATH, firewalld), and the
start or restart of its unit waited for until the node is Ready.

``run`` arguments are callables ``run(argv) -> (rc, stdout, stderr)`` (the module's
``run_command``), so tests drive these functions with real commands or recorded answers.
"""

from __future__ import annotations

import json
import os
import stat
import time
from typing import Callable

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hostfacts as hostfacts
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum

Run = Callable[[list], tuple]

UNIT_PROPERTIES = ('LoadState', 'ActiveState', 'SubState', 'Result', 'NRestarts', 'UnitFileState',
                   'ActiveEnterTimestampMonotonic')
ACTIVE_STATES = ('active', 'activating', 'reloading')


# The ready_checks option of k3s_service and k3s_node_info (doc fragment ready_checks).
READY_CHECKS_ARGSPEC = dict(type='list', elements='dict', default=[], options=dict(
    argv=dict(type='list', elements='str', required=True),
    expect=dict(type='str', required=True),
    what=dict(type='str', default='ready'),
))


def ready_check(run: Run, check: dict) -> tuple:
    """Run one readiness check once: (passed, answer with rc, stdout and stderr stripped)."""
    rc, out, err = run(check['argv'])
    answer = dict(rc=rc, stdout=out.strip(), stderr=err.strip())
    return rc == 0 and answer['stdout'] == check['expect'], answer


def ready_failure(check: dict, answer: dict) -> str:
    """Why a check did not pass: its error output, else what it printed against what it expects."""
    return answer['stderr'] or 'got %r, want %r' % (answer['stdout'], check['expect'])


def file_identity(st: os.stat_result) -> dict:
    """What must stay the same for a file's recorded checksum to still be its content: the
    device, inode, size, and modification and change times (ctime cannot be set back)."""
    return {'dev': st.st_dev, 'inode': st.st_ino, 'size': st.st_size, 'mtime_ns': st.st_mtime_ns,
            'ctime_ns': st.st_ctime_ns}


def describe_path(path: str, record: dict | None = None) -> dict:
    """What a path is: ``exists``, ``type`` (file, directory, link, other), ``mode``
    (``'0644'``), ``sha256`` for a regular file, ``target`` for a symlink (not followed).
    A file also has its ``identity`` (file_identity) and ``sha256_from``: ``record`` when
    ``record`` (path to identity and sha256, the role's checksum record) holds the path
    with the same identity, so the file is not read, else ``read``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {'exists': False}
    out = {'exists': True, 'mode': '%04o' % stat.S_IMODE(st.st_mode)}
    if stat.S_ISLNK(st.st_mode):
        out.update(type='link', target=os.readlink(path))
    elif stat.S_ISDIR(st.st_mode):
        out['type'] = 'directory'
    elif stat.S_ISREG(st.st_mode):
        identity = file_identity(st)
        known = (record or {}).get(path) or {}
        if known.get('identity') == identity and len(str(known.get('sha256', ''))) == 64:
            out.update(type='file', size=st.st_size, sha256=known['sha256'], sha256_from='record', identity=identity)
        else:
            out.update(type='file', size=st.st_size, sha256=treesum.file_sha256(path), sha256_from='read',
                       identity=identity)
    else:
        out['type'] = 'other'
    return out


def load_checksum_record(path: str) -> dict:
    """The role's checksum record (``{"version": 1, "files": {path: {"sha256", "identity", ...}}}``,
    each entry a describe_path result) as path to entry; empty when there is none or it cannot be used (then every file is read)."""
    if not path:
        return {}
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    files = data.get('files') if isinstance(data, dict) and data.get('version') == 1 else None
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def parse_show(text: str) -> dict:
    """``systemctl show`` output (``Key=value`` lines) as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            out[key] = value
    return out


def unit_state(run: Run, name: str) -> dict:
    """The unit's properties (UNIT_PROPERTIES); raises RuntimeError when systemctl fails."""
    rc, out, err = run(['systemctl', 'show', '--property=' + ','.join(UNIT_PROPERTIES), name])
    if rc != 0:
        raise RuntimeError('systemctl show %s failed (rc %s): %s' % (name, rc, (err or out).strip()))
    return parse_show(out)


def package_state(run: Run, names: list, search_path: str) -> dict:
    """Whether each package is installed, from the package database the OS keeps - dpkg's
    where there is one (Debian, Ubuntu), else rpm's (Fedora): per name ``installed`` (true,
    false, or None when neither database could be read) and ``version``."""
    if not names:
        return {}
    dirs = [d for d in search_path.split(':') if d]
    found = {tool: next((os.path.join(d, tool) for d in dirs if os.access(os.path.join(d, tool), os.X_OK)), '')
             for tool in ('dpkg-query', 'rpm')}
    out = {name: {'installed': None, 'version': ''} for name in names}
    if found['dpkg-query']:
        # one line per known package; a name dpkg never heard of is only on stderr
        _rc, text, _err = run([found['dpkg-query'], '-W', '-f', '${Package}\t${db:Status-Status}\t${Version}\n']
                              + list(names))
        for name in names:
            out[name]['installed'] = False
        for line in text.splitlines():
            fields = line.split('\t')
            if len(fields) == 3 and fields[0] in out and fields[1] == 'installed':
                out[fields[0]] = {'installed': True, 'version': fields[2]}
    elif found['rpm']:
        # rpm -q prints "package NAME is not installed" for the others (rc: how many)
        _rc, text, _err = run([found['rpm'], '-q', '--queryformat', '%{NAME}\t%{VERSION}-%{RELEASE}\n'] + list(names))
        for name in names:
            out[name]['installed'] = False
        for line in text.splitlines():
            fields = line.split('\t')
            if len(fields) == 2 and fields[0] in out:
                out[fields[0]] = {'installed': True, 'version': fields[1]}
    return out


def _resolve(path: str) -> str:
    return os.path.realpath(path)


def tool_actions(names: list, install_dir: str, binary: str, search_path: str) -> dict:
    """For each name (kubectl, crictl, ctr): ``link`` when nothing but our K3s answers to it
    on PATH, ``unlink`` when our link (install_dir/name resolving to the K3s binary) sits
    beside another tool of that name, ``keep`` when the name belongs to another tool only.
    ``other`` is that other tool's path. A name already on PATH is never shadowed."""
    k3s = _resolve(binary)
    out = {}
    for name in names:
        mine = os.path.join(install_dir, name)
        ours = os.path.islink(mine) and _resolve(mine) == k3s
        other = ''
        for directory in search_path.split(':'):
            candidate = os.path.join(directory, name)
            if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK) and _resolve(candidate) != k3s:
                other = other or candidate
        if os.path.lexists(mine) and not ours:
            other = mine  # anything of that name in install_dir that is not our link
        if not other:
            out[name] = {'action': 'link', 'other': ''}
        elif ours:
            out[name] = {'action': 'unlink', 'other': other}
        else:
            out[name] = {'action': 'keep', 'other': other}
    return out


def _firewalld_down(reason: str, zone: str) -> dict:
    return {'running': False, 'reason': reason, 'zones': {}, 'zone': zone, 'zone_reason': 'given' if zone else ''}


def node_interface(run: Run, address: str = '') -> tuple[str, str]:
    """The interface carrying ``address`` (else the default route's), read as the preflight
    reads the host (``hostfacts``)."""
    try:
        interfaces, routes = hostfacts.collect_interfaces(run), hostfacts.collect_routes(run)
    except netparse.ParseError as exc:
        return '', str(exc)
    if not interfaces['available'] or not routes['available']:
        return '', 'ip failed: %s' % (interfaces['error'] or routes['error'])
    return netparse.node_interface(interfaces['interfaces'], routes['routes'], address)


def firewalld_state(zones: list, client_factory=None, zone: str = '', interface: str = '',
                    interface_reason: str = '') -> dict:
    """``running`` and, per zone, the ports, sources and rich rules in the runtime and the
    permanent configuration, read through firewalld's own Python client (one D-Bus connection).

    ``zone`` names the zone the K3s ports belong in; empty chooses it like the preflight
    does (``netparse.firewalld_zone_for``): the zone ``interface`` (the one carrying the
    node's address) is bound to, else the default zone. The chosen zone is read too and
    returned as ``zone`` with ``zone_reason``.
    """
    if client_factory is None:
        try:
            from firewall.client import FirewallClient  # pylint: disable=import-outside-toplevel
        except ImportError:
            return _firewalld_down('no firewalld Python client (python3-firewall)', zone)
        client_factory = FirewallClient
    try:
        client = client_factory()
        if not client.connected:
            return _firewalld_down('firewalld is not running', zone)
        reason = 'given'
        if not zone:
            bindings = dict((name, info.get('interfaces', [])) for name, info in client.getActiveZones().items())
            zone, reason = netparse.firewalld_zone_for(interface, bindings, client.getDefaultZone(), interface_reason)
        config = client.config()
        out = {'running': True, 'reason': '', 'zones': {}, 'zone': zone, 'zone_reason': reason}
        for name in list(dict.fromkeys([zone] + list(zones))):
            permanent = config.getZoneByName(name).getSettings()
            out['zones'][name] = {
                'ports': sorted('%s/%s' % (p, proto) for p, proto in client.getPorts(name)),
                'sources': sorted(client.getSources(name)),
                'permanent_ports': sorted('%s/%s' % (p, proto) for p, proto in permanent.getPorts()),
                'permanent_sources': sorted(permanent.getSources()),
                # firewalld's own string form (Rich_Rule.__str__), runtime and permanent
                'rich_rules': sorted(client.getRichRules(name)),
                'permanent_rich_rules': sorted(permanent.getRichRules()),
            }
        return out
    except Exception as exc:  # the client raises dbus and firewall errors alike
        return _firewalld_down('firewalld did not answer: %s' % exc, zone)


def is_active_since(state: dict, since: str) -> bool:
    """Active, and (when ``since`` is given) entered active after the timestamp ``since``."""
    return state.get('ActiveState') == 'active' and (not since or state.get('ActiveEnterTimestampMonotonic') != since)


def wait_until(check: Callable[[], tuple], timeout: float, interval: float = 2.0,
               clock=time.monotonic, sleep=time.sleep) -> tuple:
    """Call ``check() -> (done, detail)`` until done or ``timeout`` seconds have passed;
    returns the last ``(done, detail)``. At least one call is made."""
    deadline = clock() + timeout
    while True:
        done, detail = check()
        if done or clock() >= deadline:
            return done, detail
        sleep(min(interval, max(deadline - clock(), 0)))
