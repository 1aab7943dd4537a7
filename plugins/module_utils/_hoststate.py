# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A comparable record of a host's network, firewall, services and chosen paths.

``take(run, paths)`` reads the host (read-only) into ``{category: {key: value}}``;
``compare(before, after, ignore, churn=...)`` returns what was added, removed or changed
per category. Keys are stable names (interface name, ``table/chain``, ``proto addr:port
process``, unit name, absolute path) so a record taken before K3s can be compared
with the host after K3s was removed.

A Nomad client keeps changing its host while the K3s stages run: allocations start,
stop and restart. ``NOMAD_CHURN`` names, in this one place, the differences that is
expected to make; ``nomad_churn()`` tells them apart from everything else, which is
compared strictly - above all what K3s could leave (its interfaces, chains, mounts,
units, files and ports are never churn).
"""

from __future__ import annotations

import fnmatch
import os
import re

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hostfacts as hostfacts
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_cleanup as cleanup
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _treesum as treesum

CATEGORIES = ('interfaces', 'routes', 'iptables', 'nft', 'sockets', 'units', 'paths')
BUILTIN_CHAINS = ('INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING')
# Tables iptables-nft keeps in nftables: already compared, rule by rule, as iptables.
IPTABLES_NFT_TABLES = tuple('%s %s' % (f, t) for f in ('ip', 'ip6') for t in ('filter', 'nat', 'mangle', 'raw', 'security'))
RECORD_VERSION = 1

# Nomad's expected churn, per category. Every other difference fails the comparison.
NOMAD_CHURN = {
    'interfaces': "a veth enslaved to Nomad's bridge came, went or changed (an allocation's network namespace)",
    'paths': "CNI's per-allocation files for Nomad's network: IPAM leases under /var/lib/cni/networks/<network>/ "
             "and cached results /var/lib/cni/results/<network>-*",
    'iptables': "rules carrying CNI's comment for Nomad's network (name: \"<network>\"), and CNI-* chains only those "
                "rules use or whose own rules carry it (an allocation's portmap and masquerade chains)",
    'sockets': "a listener on a port in Nomad's dynamic range, held by a process that is not K3s's",
    'units': "mount units of allocations: Nomad's alloc directories (*-alloc-*.mount), its network namespaces "
             "named by allocation ID (run-netns-*.mount but not run-netns-cni*, which are the pods'), Docker's "
             "(run-docker-*, var-lib-docker-*)",
}
# Processes that are K3s's: their listeners are never churn.
K3S_PROCESSES = ('k3s', 'k3s-server', 'k3s-agent', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2',
                 'kubelet', 'kube-proxy', 'flanneld', 'coredns', 'traefik', 'metrics-server', 'local-path-provisioner')
_SOCKET_KEY = re.compile(r'^(?P<proto>\S+) (?P<address>.*):(?P<port>\d+) (?P<names>\S+)$')


def _nomad_chains(records: list, network: str) -> set:
    """CNI-* chains (``table/CHAIN``) a Nomad allocation made, in any of the records."""
    chains = set()
    for record in records:
        for key, body in (record.get('iptables') or {}).items():
            table, _sep, chain = key.partition('/')
            rules = body.get('rules') or []
            if chain.startswith('CNI-') and rules and all(cleanup.owned_by_network(r, network) for r in rules):
                chains.add(key)
            for rule in rules:
                if cleanup.owned_by_network(rule, network) and cleanup.jump_target(rule).startswith('CNI-'):
                    chains.add('%s/%s' % (table, cleanup.jump_target(rule)))
    return chains


class NomadChurn:
    """Which differences a running Nomad client makes by itself (NOMAD_CHURN)."""

    def __init__(self, before: dict, after: dict, bridge: str = 'nomad', network: str = 'nomad',
                 dynamic_ports: tuple = (20000, 32000)):
        self.before, self.after = before, after
        self.bridge, self.network = bridge, network
        self.dynamic_ports = (int(dynamic_ports[0]), int(dynamic_ports[1]))
        self.chains = _nomad_chains([before, after], network)

    def _veth(self, value, assumed: str = '') -> bool:
        return bool(value) and value.get('kind') == 'veth' and value.get('master', assumed) == self.bridge

    def __call__(self, category: str, kind: str, key: str) -> bool:
        old = self.before.get(category, {}).get(key)
        new = self.after.get(category, {}).get(key)
        if category == 'interfaces':
            # The before record may predate masters: a veth in it is taken for Nomad's (K3s
            # was not there yet). The host now must show the veth on Nomad's bridge.
            if kind == 'added':
                return self._veth(new)
            if kind == 'removed':
                return self._veth(old, assumed=self.bridge)
            return self._veth(old, assumed=self.bridge) and self._veth(new)
        if category == 'paths':
            leases = '/var/lib/cni/networks/%s/' % self.network
            results = '/var/lib/cni/results/%s-' % self.network
            if key.startswith(leases) or key.startswith(results):
                return True
            # the results directory itself, made by the first allocation that ran
            return key == '/var/lib/cni/results' and kind == 'added' and all(
                k.startswith(results) for k in self.after.get('paths', {}) if k.startswith(key + '/'))
        if category == 'iptables':
            if key in self.chains:
                return True
            if kind == 'changed':
                if old.get('policy') != new.get('policy'):
                    return False
                old_rules, new_rules = list(old.get('rules') or []), list(new.get('rules') or [])
                differing = [r for r in new_rules if r not in old_rules] + [r for r in old_rules if r not in new_rules]
            else:  # a shared CNI chain that came or went with Nomad's rules alone in it
                differing = list(((new if kind == 'added' else old) or {}).get('rules') or [])
            table = key.partition('/')[0]
            return bool(differing) and all(
                cleanup.owned_by_network(r, self.network) or '%s/%s' % (table, cleanup.jump_target(r)) in self.chains
                for r in differing)
        if category == 'sockets':
            match = _SOCKET_KEY.match(key)
            if not match:
                return False
            names = set(match.group('names').split(','))
            low, high = self.dynamic_ports
            return low <= int(match.group('port')) <= high and not names & set(K3S_PROCESSES)
        if category == 'units':
            if not key.endswith('.mount'):
                return False
            if key.startswith('run-netns-'):
                return not key.startswith('run-netns-cni')
            return '-alloc-' in key or key.startswith(('run-docker-', 'var-lib-docker-'))
        return False


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
            if i.get('master'):
                record['interfaces'][i['name']]['master'] = i['master']
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


def _same(category: str, old, new) -> bool:
    if category == 'interfaces' and isinstance(old, dict) and 'master' not in old and isinstance(new, dict):
        new = dict((k, v) for k, v in new.items() if k != 'master')  # a record from before masters were read
    return old == new


def compare(before: dict, after: dict, ignore: list | None = None, skip=(), churn=None):
    """Return ``(differences, ignored)``, each ``{category: {added, removed, changed}}``;
    with ``churn`` (a callable ``(category, kind, key) -> bool`` such as NomadChurn),
    ``(differences, ignored, churned)``.

    A category unreadable in either record is skipped (it cannot be compared).
    """
    ignore = ignore or []
    differences: dict = {}
    ignored: dict = {}
    churned: dict = {}
    for category in CATEGORIES:
        if category in skip:
            continue
        old = before.get(category, {})
        new = after.get(category, {})
        buckets = {
            'added': sorted(k for k in new if k not in old),
            'removed': sorted(k for k in old if k not in new),
            'changed': sorted(k for k in new if k in old and not _same(category, old[k], new[k])),
        }
        for kind, keys in buckets.items():
            for key in keys:
                if _ignored(category, key, ignore):
                    target = ignored
                elif churn is not None and churn(category, kind, key):
                    target = churned
                else:
                    target = differences
                target.setdefault(category, {'added': [], 'removed': [], 'changed': []})[kind].append(key)
    if churn is None:
        return differences, ignored
    return differences, ignored, churned


def summarize(differences: dict) -> list[str]:
    lines = []
    for category in CATEGORIES:
        for kind in ('added', 'removed', 'changed'):
            for key in differences.get(category, {}).get(kind, []):
                lines.append('%s %s: %s' % (category, kind, key))
    return lines
