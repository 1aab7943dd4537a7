# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan the removal of K3s's netfilter state without touching Nomad's.

The stock ``k3s-killall.sh`` runs ``iptables-save | grep -v KUBE- | grep -v CNI- |
grep -iv flannel | iptables-restore`` and ``rm -rf /var/lib/cni``: on a Nomad client
that deletes the CNI portmap and masquerade chains of every Nomad allocation and its IP
allocations. This plan removes only:

- chains named ``KUBE-*`` or ``FLANNEL*`` (kube-proxy, kube-router, flannel);
- ``CNI-*`` chains that belong to K3s's own CNI network (``cbr0``): a rule jumping to
  them, or inside them, carries the CNI comment ``name: "cbr0"``, or points into K3s's
  pod network (cluster CIDR);
- rules elsewhere that jump to those chains or carry K3s's CNI or flannel comments.
Chains shared by every CNI portmap user (``CNI-HOSTPORT-*``, ``CNI-FORWARD``) stay; only
K3s's rules inside them go.

K3s's pod network namespaces are told from state, not by name: podman's CNI backend and
Nomad name theirs ``cni-<uuid>`` too. libcni (which containerd uses) caches each attachment
in ``/var/lib/cni/results/<network>-<container id>-<ifname>``, JSON with ``networkName`` and,
since libcni 1.1, ``netns`` (the path of the namespace). The namespaces of network ``cbr0``'s
attachments are K3s's.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex

# The interfaces K3s's flannel and kube-proxy create on a node (the bridge, VXLAN, WireGuard
# backends, IPVS dummy): the cleanup deletes them, the one list the role relies on.
K3S_INTERFACES = ('cni0', 'flannel.1', 'flannel-v6.1', 'flannel-wg', 'flannel-wg-v6', 'kube-ipvs0')
BUILTIN_CHAINS = ('INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING')
SHARED_CNI_CHAINS = ('CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ', 'CNI-FORWARD', 'CNI-ADMIN')
_JUMP = re.compile(r'(?:^|\s)-[jg] (\S+)')
_ADDRESSES = re.compile(r'(?:--to-destination|-[sd]) (\d+\.\d+\.\d+\.\d+(?:/\d+)?)')


def jump_target(rule: str) -> str:
    """The chain a rule jumps or goes to ('' for none)."""
    match = _JUMP.search(rule)
    return match.group(1) if match else ''


def owned_by_network(rule: str, network: str) -> bool:
    """Whether a rule carries CNI's comment for ``network`` (``name: "<network>"``)."""
    return 'name: \\"%s\\"' % network in rule or 'name: "%s"' % network in rule


def _in_cluster(rule: str, cluster_nets: list) -> bool:
    """Whether a rule DNATs to, or matches on, an address inside K3s's pod network."""
    for text in _ADDRESSES.findall(rule):
        net = ipaddress.ip_network(text, strict=False)
        if any(net.subnet_of(ipaddress.ip_network(c)) for c in cluster_nets
               if ipaddress.ip_network(c).version == net.version):
            return True
    return False


def _k3s_named(chain: str) -> bool:
    return chain.startswith('KUBE-') or chain.upper().startswith('FLANNEL')


def plan_iptables(tables: dict, network: str = 'cbr0', cluster_nets: list | None = None) -> dict:
    """Return ``{'rules': [(table, chain, rule)], 'chains': [(table, chain)]}`` to remove.

    ``cluster_nets`` (K3s's pod CIDRs) also marks as K3s's a ``CNI-*`` chain whose rules
    point into the pod network, even when the rule that jumped to it is gone (a flush).
    """
    cluster_nets = cluster_nets or []
    rules_out = []
    chains_out = []
    for table in sorted(tables):
        chains = tables[table]
        doomed = set(c for c in chains if _k3s_named(c) and c not in BUILTIN_CHAINS)
        for chain, body in chains.items():
            if not chain.startswith('CNI-') or chain in SHARED_CNI_CHAINS or chain in BUILTIN_CHAINS:
                continue
            if any(owned_by_network(r, network) or _in_cluster(r, cluster_nets) for r in body['rules']):
                doomed.add(chain)
        for chain, body in chains.items():
            for rule in body['rules']:
                target = jump_target(rule)
                if (target.startswith('CNI-') and target in chains and target not in SHARED_CNI_CHAINS
                        and owned_by_network(rule, network)):
                    doomed.add(target)
        for chain in sorted(chains):
            if chain in doomed:
                continue
            for rule in chains[chain]['rules']:
                comment = rule.lower()
                if jump_target(rule) in doomed or owned_by_network(rule, network) or 'flannel' in comment:
                    rules_out.append((table, chain, rule))
        chains_out.extend((table, c) for c in sorted(doomed))
    return {'rules': rules_out, 'chains': chains_out}


def delete_commands(binary: str, plan: dict) -> list[list[str]]:
    """The commands that carry out a plan: delete rules, then flush, then delete chains."""
    commands = []
    for table, chain, rule in plan['rules']:
        spec = shlex.split(rule)
        if spec[:2] != ['-A', chain]:
            raise ValueError('unexpected rule format: %r' % rule)
        commands.append([binary, '-w', '-t', table, '-D', chain] + spec[2:])
    for table, chain in plan['chains']:
        commands.append([binary, '-w', '-t', table, '-F', chain])
    for table, chain in plan['chains']:
        commands.append([binary, '-w', '-t', table, '-X', chain])
    return commands


NETNS_DIRS = ('/run/netns', '/var/run/netns')
CNI_CACHE_KIND = 'cniCacheV1'


def cached_netns(results_dir: str, network: str) -> tuple[list[str], list[str]]:
    """The netns paths libcni recorded for ``network``'s attachments, and what could not be read.

    Returns ``(paths, problems)``: ``paths`` sorted and unique; ``problems`` one line per
    cache file of ``network`` that is unreadable, not a libcni v1 cache or has no ``netns``
    (written by libcni < 1.1), so its namespace cannot be told and is left in place.
    """
    paths = set()
    problems = []
    try:
        names = sorted(os.listdir(results_dir))
    except FileNotFoundError:
        return [], []
    for name in names:
        path = os.path.join(results_dir, name)
        try:
            with open(path, 'rb') as handle:
                data = json.loads(handle.read().decode('utf-8'))
        except (OSError, ValueError) as exc:
            if name.startswith(network + '-'):
                problems.append('%s: unreadable (%s)' % (path, exc))
            continue
        if not isinstance(data, dict) or data.get('networkName', '') != network:
            continue
        if data.get('kind') != CNI_CACHE_KIND:
            problems.append('%s: not a libcni %s cache' % (path, CNI_CACHE_KIND))
        elif not data.get('netns'):
            problems.append('%s: no netns recorded (libcni < 1.1) for container %s' % (path, data.get('containerId', '?')))
        else:
            paths.add(str(data['netns']))
    return sorted(paths), problems


def netns_name(path: str, netns_dirs: tuple = NETNS_DIRS) -> str | None:
    """The ``ip netns`` name of a namespace path (``/var/run/netns/cni-1f`` -> ``cni-1f``), or None.

    A bare name is taken as it is; a path outside ``netns_dirs`` (``/proc/<pid>/ns/net``)
    is not a named namespace and gives None.
    """
    if '/' not in path:
        return path or None
    parent, name = os.path.split(os.path.normpath(path))
    return name if parent in netns_dirs and name not in ('', '.', '..') else None


def k3s_netns_names(results_dir: str, network: str, extra: list, netns_dir: str = '/run/netns') -> tuple[list, list]:
    """The names of K3s's pod namespaces present in ``netns_dir``, and warnings.

    K3s's are those libcni's cache files of ``network`` record, plus ``extra`` (names or
    paths). Namespaces already gone are left out, so a second run has nothing to do.
    """
    paths, problems = cached_netns(results_dir, network)
    warnings = ['cannot tell the network namespace of a K3s pod, left in place: %s' % p for p in problems]
    names = []
    for path in paths + list(extra):
        name = netns_name(path)
        if name is None:
            warnings.append('%s is not a named network namespace (%s/NAME), left in place' % (path, netns_dir))
        elif name not in names and os.path.lexists(os.path.join(netns_dir, name)):
            names.append(name)
    return names, warnings
