# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A comparable record of a host's network, firewall, services and chosen paths.

``take(run, paths)`` reads the host (read-only) into ``{category: {key: value}}``;
``compare(before, after, ignore)`` returns what was added, removed or changed per
category. Keys are stable names (interface name, ``table/chain``, ``proto addr:port
process``, unit name, absolute path) so a record taken before K3s can be compared
with the host after K3s was removed.
"""

from __future__ import annotations

import fnmatch
import os

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hostfacts as hostfacts
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum

CATEGORIES = ('interfaces', 'routes', 'iptables', 'nft', 'sockets', 'units', 'paths')
BUILTIN_CHAINS = ('INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING')
# Tables iptables-nft keeps in nftables: already compared, rule by rule, as iptables.
IPTABLES_NFT_TABLES = tuple('%s %s' % (f, t) for f in ('ip', 'ip6') for t in ('filter', 'nat', 'mangle', 'raw', 'security'))
RECORD_VERSION = 1


def _entry(path: str) -> dict:
    return treesum.entry(path, os.lstat(path))


def walk_paths(paths: list) -> dict:
    """Every entry under each path (symlinks recorded, never followed)."""
    found = {}
    for top in paths:
        if not os.path.lexists(top):
            continue
        found[top] = _entry(top)
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        for root, dirs, files in os.walk(top, followlinks=False):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                try:
                    found[full] = _entry(full)
                except OSError:  # vanished while walking
                    continue
    return found


def _units(run) -> tuple[bool, dict]:
    rc, out, _err = run(['systemctl', 'list-units', '--all', '--type=service,socket,mount,timer',
                         '--no-legend', '--plain', '--no-pager'])
    if rc != 0:
        return False, {}
    units = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] != 'not-found':
            units[fields[0]] = '%s/%s' % (fields[2], fields[3])
    rc, out, _err = run(['systemctl', 'list-unit-files', '--type=service', '--no-legend', '--plain', '--no-pager'])
    if rc == 0:
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 2:
                units.setdefault(fields[0], 'file/%s' % fields[1])
    return True, units


def take(run, paths: list) -> dict:
    """Read the host into a record. ``unavailable`` lists categories that could not be read."""
    record: dict = {name: {} for name in CATEGORIES}
    unavailable = {}
    ifaces = hostfacts.collect_interfaces(run)
    if ifaces['available']:
        for i in ifaces['interfaces']:
            record['interfaces'][i['name']] = {'kind': i['kind'], 'mtu': i['mtu'],
                                               'addresses': sorted(i['addresses'])}
    else:
        unavailable['interfaces'] = ifaces['error']
    routes = hostfacts.collect_routes(run)
    if routes['available']:
        for r in routes['routes']:
            key = ' '.join(x for x in (r['dst'], 'dev ' + r['dev'] if r['dev'] else '',
                                       'via ' + r['gateway'] if r['gateway'] else '') if x)
            record['routes'][key] = r['protocol'] or 'static'
    else:
        unavailable['routes'] = routes['error']
    ipt = hostfacts.collect_iptables(run)
    if ipt['available']:
        for table, chains in ipt['tables'].items():
            for chain, body in chains.items():
                if chain in BUILTIN_CHAINS and body['policy'] == 'ACCEPT' and not body['rules']:
                    continue  # an empty accepting built-in chain filters nothing, present or not
                record['iptables']['%s/%s' % (table, chain)] = {'policy': body['policy'], 'rules': body['rules']}
    else:
        unavailable['iptables'] = ipt['error']
    nft = hostfacts.collect_nft(run)
    if nft['available']:
        record['nft'] = {t: 'present' for t in nft['tables']
                         if not (ipt['available'] and ipt.get('mode') == 'nf_tables' and t in IPTABLES_NFT_TABLES)}
    else:
        unavailable['nft'] = nft['error']
    socks = hostfacts.collect_sockets(run)
    if socks['available']:
        for s in socks['sockets']:
            names = ','.join(sorted({p['name'] for p in s['processes']})) or '-'
            record['sockets']['%s %s:%d %s' % (s['proto'], s['address'], s['port'], names)] = 'listening'
    else:
        unavailable['sockets'] = socks['error']
    ok, units = _units(run)
    if ok:
        record['units'] = units
    else:
        unavailable['units'] = 'systemctl is not usable here'
    record['paths'] = walk_paths(paths)
    return {'categories': record, 'unavailable': unavailable}


def _ignored(category: str, key: str, ignore: list) -> bool:
    for pattern in ignore:
        cat, sep, glob = pattern.partition(':')
        if cat == category and (not sep or fnmatch.fnmatchcase(key, glob)):
            return True
    return False


def compare(before: dict, after: dict, ignore: list | None = None, skip=()) -> tuple[dict, dict]:
    """Return ``(differences, ignored)``, each ``{category: {added, removed, changed}}``.

    A category unreadable in either record is skipped (it cannot be compared).
    """
    ignore = ignore or []
    differences: dict = {}
    ignored: dict = {}
    for category in CATEGORIES:
        if category in skip:
            continue
        old = before.get(category, {})
        new = after.get(category, {})
        buckets = {
            'added': sorted(k for k in new if k not in old),
            'removed': sorted(k for k in old if k not in new),
            'changed': sorted(k for k in new if k in old and new[k] != old[k]),
        }
        for kind, keys in buckets.items():
            for key in keys:
                target = ignored if _ignored(category, key, ignore) else differences
                target.setdefault(category, {'added': [], 'removed': [], 'changed': []})[kind].append(key)
    return differences, ignored


def summarize(differences: dict) -> list[str]:
    lines = []
    for category in CATEGORIES:
        for kind in ('added', 'removed', 'changed'):
            for key in differences.get(category, {}).get(kind, []):
                lines.append('%s %s: %s' % (category, kind, key))
    return lines
