# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers for what Linux networking tools print, and range/CIDR arithmetic.

Pure functions only: every input is text or already-decoded JSON, so the unit tests
feed them output captured from real hosts.
"""

from __future__ import annotations

import ipaddress
import json
import re

_SS_USERS = re.compile(r'\("(?P<name>[^"]*)",pid=(?P<pid>\d+),fd=\d+\)')
_DPORT = re.compile(r'--dport[s]? (?P<port>\d+)(?::(?P<end>\d+))?')
_PROTO = re.compile(r'-p (?P<proto>tcp|udp|sctp)\b')
_TO_DEST = re.compile(r'--to-destination (?P<to>\S+)')
_COUNTERS = re.compile(r'^\[\d+:\d+\] ')


class ParseError(ValueError):
    """Raised when tool output or an option value cannot be understood."""


# --- ports and ranges -----------------------------------------------------------------

def parse_port_range(value: str | int) -> tuple[int, int]:
    """Parse ``30000-32767`` (or ``6443``) into an inclusive ``(low, high)`` tuple."""
    text = str(value).strip()
    match = re.fullmatch(r'(\d{1,5})(?:\s*[-:]\s*(\d{1,5}))?', text)
    if not match:
        raise ParseError("port range %r is not of the form LOW-HIGH" % (value,))
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 65535:
        raise ParseError("port range %r must satisfy 1 <= LOW <= HIGH <= 65535" % (value,))
    return low, high


def parse_port_spec(value: str | int) -> dict:
    """Parse ``6443``, ``8472/udp`` or ``2379-2380/tcp`` into ``{low, high, proto}``."""
    text = str(value).strip().lower()
    proto = 'tcp'
    if '/' in text:
        text, proto = text.split('/', 1)
    if proto not in ('tcp', 'udp', 'sctp'):
        raise ParseError("port %r has protocol %r; use tcp, udp or sctp" % (value, proto))
    low, high = parse_port_range(text)
    return {'low': low, 'high': high, 'proto': proto}


def format_port_spec(spec: dict) -> str:
    ports = str(spec['low']) if spec['low'] == spec['high'] else '%d-%d' % (spec['low'], spec['high'])
    return '%s/%s' % (ports, spec['proto'])


def ranges_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def parse_port_list(text: str) -> list[tuple[int, int]]:
    """Parse a Nomad-style port list (``"22,80,8000-8100"``) into ranges."""
    ranges = []
    for part in (text or '').split(','):
        part = part.strip()
        if part:
            ranges.append(parse_port_range(part))
    return ranges


# --- CIDRs ----------------------------------------------------------------------------

def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        raise ParseError("%r is not a valid network CIDR (%s)" % (value, exc))


def networks_overlap(a: str, b: str) -> bool:
    net_a = ipaddress.ip_network(a, strict=False)
    net_b = ipaddress.ip_network(b, strict=False)
    return net_a.version == net_b.version and net_a.overlaps(net_b)


# --- ss -------------------------------------------------------------------------------

def _split_host_port(text: str) -> tuple[str, int | None]:
    host, _sep, port = text.rpartition(':')
    host = host.strip('[]')
    if '%' in host:
        host = host.split('%', 1)[0]
    if host in ('*', ''):
        host = '*'
    if host.startswith('::ffff:') and '.' in host:
        host = host[len('::ffff:'):]
    return host, (int(port) if port.isdigit() else None)


def parse_ss(text: str) -> list[dict]:
    """Parse ``ss -H -l -n -t -u -p`` output into listening sockets.

    Each socket: ``proto``, ``address``, ``port``, ``processes`` (list of
    ``{name, pid}``; empty when ss could not see the owner, e.g. a kernel socket).
    """
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ('tcp', 'udp', 'sctp'):
            continue
        proto, _state, _recvq, _sendq, local = fields[:5]
        address, port = _split_host_port(local)
        if port is None:
            continue
        rest = ' '.join(fields[6:])
        processes = [{'name': m.group('name'), 'pid': int(m.group('pid'))} for m in _SS_USERS.finditer(rest)]
        sockets.append({'proto': proto, 'address': address, 'port': port, 'processes': processes})
    return sockets


def socket_owner(sock: dict) -> str:
    if not sock['processes']:
        return 'an unknown process (no owner visible; kernel socket or another namespace)'
    return ', '.join('%s (pid %d)' % (p['name'], p['pid']) for p in sock['processes'])


# --- ip -j ----------------------------------------------------------------------------

def _load_json(text: str, what: str):
    try:
        return json.loads(text or '[]')
    except ValueError as exc:
        raise ParseError('cannot decode %s JSON: %s' % (what, exc))


def parse_ip_addr(text: str) -> list[dict]:
    """Parse ``ip -d -j addr show`` into interfaces with kind and CIDRs."""
    interfaces = []
    for link in _load_json(text, 'ip addr'):
        linkinfo = link.get('linkinfo') or {}
        info_data = linkinfo.get('info_data') or {}
        addresses = []
        for addr in link.get('addr_info', []):
            if 'local' in addr and 'prefixlen' in addr:
                addresses.append('%s/%s' % (addr['local'], addr['prefixlen']))
        interfaces.append({
            'name': link.get('ifname'),
            'kind': linkinfo.get('info_kind', ''),
            'state': link.get('operstate', ''),
            'mtu': link.get('mtu'),
            'addresses': addresses,
            'vxlan_port': info_data.get('port') if linkinfo.get('info_kind') == 'vxlan' else None,
            'master': link.get('master', ''),
        })
    return interfaces


def parse_ip_route(text: str) -> list[dict]:
    """Parse ``ip -j route show`` into ``{dst, dev, gateway, protocol}`` routes."""
    routes = []
    for route in _load_json(text, 'ip route'):
        routes.append({
            'dst': route.get('dst', ''),
            'dev': route.get('dev', ''),
            'gateway': route.get('gateway', ''),
            'protocol': route.get('protocol', ''),
        })
    return routes


def route_network(dst: str) -> str | None:
    """The CIDR a route covers, or None for default/unspecific routes."""
    if not dst or dst == 'default':
        return None
    try:
        return str(ipaddress.ip_network(dst, strict=False))
    except ValueError:
        return None


def node_interface(interfaces: list, routes: list, address: str = '') -> tuple[str, str]:
    """The interface carrying the node's address, and how it was chosen.

    ``address`` (K3s's node-ip) when given; else the interface of the IPv4 default route
    (the address K3s picks itself), else of the IPv6 one. ``('', why)`` when none matches.
    """
    if address:
        for iface in interfaces:
            if any(cidr.split('/')[0] == address for cidr in iface.get('addresses', [])):
                return iface['name'], 'carries %s' % address
        return '', 'no interface carries %s' % address
    defaults = [r for r in routes if r.get('dst') == 'default' and r.get('dev')]
    defaults.sort(key=lambda r: ':' in (r.get('gateway') or ''))  # IPv4 first
    if defaults:
        return defaults[0]['dev'], 'has the default route'
    return '', 'no default route'


def firewalld_zone_for(interface: str, zone_interfaces: dict, default_zone: str, how: str = '') -> tuple[str, str]:
    """The firewalld zone traffic to the node arrives in: the zone ``interface`` is bound to,
    else the default zone (firewalld's own rule for unbound interfaces). ``zone_interfaces``
    maps each zone to its interfaces; ``how`` says how the interface was chosen (from
    ``node_interface``) and ends the reason."""
    zone, reason = default_zone, 'the default zone'
    for name in sorted(zone_interfaces):
        if interface and interface in (zone_interfaces[name] or []):
            zone, reason = name, 'the zone of %s' % interface
            break
    else:
        if interface:
            reason = 'the default zone (%s is in no zone)' % interface
    if how:
        reason = '%s (%s)' % (reason, '%s %s' % (interface, how) if interface else how)
    return zone, reason


# --- iptables-save --------------------------------------------------------------------

def parse_iptables_save(text: str) -> dict:
    """Parse ``iptables-save`` output into ``{table: {chain: {policy, rules}}}``.

    Packet counters are dropped so that two saves of unchanged rules compare equal.
    """
    tables: dict = {}
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('*'):
            table = tables.setdefault(line[1:], {})
        elif line == 'COMMIT':
            table = None
        elif table is None:
            raise ParseError('iptables-save line outside a table: %r' % line)
        elif line.startswith(':'):
            name, _sep, rest = line[1:].partition(' ')
            policy = rest.split(' ', 1)[0] if rest else '-'
            table.setdefault(name, {'policy': policy, 'rules': []})['policy'] = policy
        else:
            # ``iptables-save -c`` prefixes rules with [packets:bytes]: drop them.
            line = _COUNTERS.sub('', line)
            if not line.startswith('-A '):
                raise ParseError('unexpected iptables-save line: %r' % line)
            chain = line.split(' ', 2)[1]
            table.setdefault(chain, {'policy': '-', 'rules': []})['rules'].append(line)
    return tables


def chains(tables: dict) -> list[str]:
    """Flat ``table/chain`` names, sorted."""
    return sorted('%s/%s' % (t, c) for t, cs in tables.items() for c in cs)


def portmap_host_ports(tables: dict) -> list[dict]:
    """Host ports published by CNI portmap (Nomad bridge networking) as DNAT rules.

    Nomad's bridge mode publishes ports through the CNI ``portmap`` plugin: no process
    listens on them, only ``CNI-DN-*`` chains in the nat table DNAT them, so ``ss``
    alone never shows them.
    """
    found = []
    for chain, body in sorted(tables.get('nat', {}).items()):
        if not chain.startswith('CNI-DN-'):
            continue
        for rule in body['rules']:
            if '-j DNAT' not in rule:
                continue
            dport = _DPORT.search(rule)
            if not dport:
                continue
            proto = _PROTO.search(rule)
            dest = _TO_DEST.search(rule)
            low = int(dport.group('port'))
            found.append({
                'low': low,
                'high': int(dport.group('end') or low),
                'proto': proto.group('proto') if proto else 'tcp',
                'chain': chain,
                'to': dest.group('to') if dest else '',
            })
    return found


# --- resolv.conf / firewalld ----------------------------------------------------------

def parse_resolv_conf(text: str) -> list[str]:
    servers = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == 'nameserver':
            servers.append(fields[1])
    return servers


def is_unusable_nameserver(server: str) -> bool:
    """Loopback, link-local or multicast: what K3s refuses to hand to pods."""
    try:
        addr = ipaddress.ip_address(server.split('%', 1)[0])
    except ValueError:
        return True
    return addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_unspecified


def parse_firewalld_zones(text: str) -> dict:
    """Parse ``firewall-cmd --list-all-zones`` into ``{zone: {key: [values], active}}``."""
    zones: dict = {}
    zone = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw.startswith((' ', '\t')):
            name = raw.split()[0]
            zone = zones.setdefault(name, {'active': '(active)' in raw, 'default': '(default' in raw})
            continue
        if zone is None or ':' not in raw:
            continue
        key, _sep, value = raw.strip().partition(':')
        zone[key.strip()] = value.split()
    return zones


def parse_firewalld_service_ports(text: str) -> list[str]:
    """Ports from ``firewall-cmd --info-service=NAME``."""
    for raw in text.splitlines():
        key, _sep, value = raw.strip().partition(':')
        if key == 'ports':
            return value.split()
    return []
