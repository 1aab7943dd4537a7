# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Our routers, services and servers transport inside the operator's Traefik dynamic file.

The edge Traefik reads one hot-reloaded YAML file (file provider). Our entries go in as
whole lines between marker comments, inside the file's own ``http.routers``,
``http.services`` and ``http.serversTransports`` maps (YAML allows no second ``http:``
key), so:

- every byte outside the markers stays as it was, and removing the marked lines gives
  back the original file byte for byte;
- the result is checked before it is written: parsed, it must equal the original with
  exactly our entries added (when PyYAML is importable on the host);
- an entry name the operator already uses outside our markers is refused.

Only block-style YAML is edited; a flow-style section (``routers: {}``) is refused with a
clear message rather than rewritten.
"""

from __future__ import annotations

import json
import re

SECTIONS = ('routers', 'services', 'serversTransports')
_KEY = re.compile(r'^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+|"[^"]*"|\'[^\']*\'):(?P<rest>.*)$')


class TraefikFileError(Exception):
    pass


def begin_marker(owner: str, section: str) -> str:
    return '# >>> %s: %s (managed by brmartin.k3s_migration, do not edit)' % (owner, section)


def end_marker(owner: str, section: str) -> str:
    return '# <<< %s: %s' % (owner, section)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def emit(value, indent: int) -> list:
    """Block-style YAML lines for dicts/lists of scalars."""
    pad = ' ' * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append('%s%s:' % (pad, key))
                lines.extend(emit(item, indent + 2))
            elif isinstance(item, dict):
                lines.append('%s%s: {}' % (pad, key))
            elif isinstance(item, list):
                lines.append('%s%s: []' % (pad, key))
            else:
                lines.append('%s%s: %s' % (pad, key, _scalar(item)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                sub = emit(item, indent + 2)
                lines.append('%s- %s' % (pad, sub[0].lstrip()))
                lines.extend(sub[1:])
            else:
                lines.append('%s- %s' % (pad, _scalar(item)))
    return lines


def entries(routes: list, servers: list, server_name: str, ca_files: list, transport: str,
            entrypoints: list, cert_resolver: str | None, prefix: str = 'k3s-') -> dict:
    """Our http.* entries for a list of {name, host} routes."""
    routers, services = {}, {}
    for route in routes:
        name = prefix + route['name']
        tls = {'certResolver': cert_resolver} if cert_resolver else {}
        routers[name] = {'rule': 'Host(`%s`)' % route['host'], 'entryPoints': list(entrypoints),
                         'service': name, 'tls': tls}
        services[name] = {'loadBalancer': {'servers': [{'url': url} for url in servers],
                                           'serversTransport': transport, 'passHostHeader': True}}
    transports = {transport: {'serverName': server_name, 'rootCAs': list(ca_files)}}
    return {'routers': routers, 'services': services, 'serversTransports': transports}


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith('#')


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(' '))


def remove(text: str, owner: str) -> str:
    """The text without any of our marked blocks (lines between markers, inclusive)."""
    out, inside = [], False
    for line in text.splitlines(True):
        stripped = line.strip()
        if stripped.startswith('# >>> %s:' % owner):
            inside = True
            continue
        if inside and stripped.startswith('# <<< %s:' % owner):
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise TraefikFileError('an opening "# >>> %s" marker has no closing marker; fix the file by hand' % owner)
    return ''.join(out)


def _find_key(lines: list, start: int, end: int, indent: int, key: str):
    for index in range(start, end):
        match = _KEY.match(lines[index].rstrip('\n'))
        if match and len(match.group('indent')) == indent and match.group('key').strip('"\'') == key:
            return index, match.group('rest')
    return None, None


def _block_end(lines: list, start: int, indent: int) -> int:
    """Index after the last line belonging to the key at ``start`` (children indented deeper)."""
    end = start + 1
    last = start + 1
    while end < len(lines):
        if _is_content(lines[end]):
            if _indent(lines[end]) <= indent:
                break
            last = end + 1
        end += 1
    return last


def _child_indent(lines: list, start: int, end: int, default: int) -> int:
    for index in range(start + 1, end):
        if _is_content(lines[index]):
            return _indent(lines[index])
    return default


def insert(text: str, wanted: dict, owner: str) -> str:
    """The text with our entries inserted (any earlier ones removed first)."""
    base = remove(text, owner)
    lines = base.splitlines(True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += '\n'
    sections = [s for s in SECTIONS if wanted.get(s)]
    http, rest = _find_key(lines, 0, len(lines), 0, 'http')
    if http is None:
        block = [begin_marker(owner, 'http'), 'http:']
        for section in sections:
            block.append('  %s:' % section)
            block.extend(emit(wanted[section], 4))
        block.append(end_marker(owner, 'http'))
        return ''.join(lines) + '\n'.join(block) + '\n'
    if rest.strip() and not rest.strip().startswith('#'):
        raise TraefikFileError('"http:" is written in flow style; only block-style YAML can be edited safely')
    http_end = _block_end(lines, http, 0)
    child = _child_indent(lines, http, http_end, 2)
    inserts = []  # (line index, [lines])
    missing = []
    for section in sections:
        index, rest = _find_key(lines, http + 1, http_end, child, section)
        if index is None:
            missing.append(section)
            continue
        if rest.strip() and not rest.strip().startswith('#'):
            raise TraefikFileError('"http.%s" is written in flow style (%s); only block-style YAML can be edited'
                                   % (section, rest.strip()))
        section_end = _block_end(lines, index, child)
        grandchild = _child_indent(lines, index, section_end, child * 2)
        pad = ' ' * grandchild
        block = [pad + begin_marker(owner, section)] + emit(wanted[section], grandchild) + [pad + end_marker(owner, section)]
        inserts.append((index + 1, block))
    if missing:
        pad = ' ' * child
        block = [pad + begin_marker(owner, 'http')]
        for section in missing:
            block.append('%s%s:' % (pad, section))
            block.extend(emit(wanted[section], child * 2))
        block.append(pad + end_marker(owner, 'http'))
        inserts.append((http_end, block))
    for index, block in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines[index:index] = [line + '\n' for line in block]
    return ''.join(lines)


def merged(original: dict | None, wanted: dict) -> dict:
    """What the parsed file must equal after insertion."""
    result = json.loads(json.dumps(original or {}))
    http = result.setdefault('http', {}) or {}
    result['http'] = http
    for section in SECTIONS:
        if wanted.get(section):
            current = http.get(section) or {}
            current.update(json.loads(json.dumps(wanted[section])))
            http[section] = current
    return result


def collisions(parsed: dict | None, wanted: dict) -> list:
    http = (parsed or {}).get('http') or {}
    return sorted('%s.%s' % (section, name) for section in SECTIONS for name in (wanted.get(section) or {})
                  if name in (http.get(section) or {}))
