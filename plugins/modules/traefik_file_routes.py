#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: traefik_file_routes
short_description: Add or remove our routes to K3s in the operator's Traefik dynamic file, leaving the rest byte-identical
version_added: 0.2.0
description:
  - Puts one router and one service per route, and one servers transport that verifies the
    K3s entry point's certificate (O(server_name), O(ca_files)), into the C(http) maps of a
    Traefik file-provider dynamic file (YAML, block style), between marker comments.
  - Every byte outside the markers stays as it was; O(state=absent) removes the marked
    lines and so gives back the file as it was before, byte for byte.
  - The new content is checked before it is written - parsed, it must equal the old
    content plus exactly our entries - and written atomically (a temporary file in the
    same directory renamed over the old one), so Traefik never reads a half-written file;
    or, with O(write_mode=in_place), through the file's own inode, for an edge container
    that bind-mounts the file itself.
  - Refuses entry names the file already uses outside our markers, and flow-style sections.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change, without writing it.
  diff_mode:
    support: full
    description: Returns the file's text before and after.
options:
  path:
    description: The dynamic file the edge Traefik watches. It must exist.
    type: path
    required: true
  state:
    description: Whether our entries are in the file.
    type: str
    choices: [present, absent]
    default: present
  routes:
    description: One entry per public hostname. Entry names are O(prefix) + O(routes[].name).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Short name of the route (letters, digits, C(-)).
        type: str
        required: true
      host:
        description: The public hostname, for example V(whoami.brmartin.co.uk).
        type: str
        required: true
  servers:
    description:
      - URLs of the K3s entry point (the in-cluster ingress on its NodePort), for example
        V(https://192.168.1.5:32443). Required with O(state=present).
    type: list
    elements: str
    default: []
  server_name:
    description: Name the K3s entry point's certificate is verified against (SNI). Required with O(state=present).
    type: str
  ca_files:
    description:
      - CA files (as Traefik sees them, inside its container) that sign the K3s entry point's
        certificate. Required with O(state=present); there is no C(insecureSkipVerify).
    type: list
    elements: str
    default: []
  transport:
    description: Name of the servers transport.
    type: str
    default: k3s-migration
  entrypoints:
    description: Entry points of the routers.
    type: list
    elements: str
    default: [websecure]
  cert_resolver:
    description: The edge's certificate resolver for the routers' TLS; empty uses the default certificate store.
    type: str
  prefix:
    description: Prefix of our router and service names.
    type: str
    default: k3s-
  owner:
    description: Label in the marker comments (one label per independent set of entries).
    type: str
    default: k3s-migration edge_routes
  ca_pem:
    description:
      - With O(state=present), the PEM of the CA that signs the K3s entry point, written to
        O(ca_dest) (mode C(0644)) before the dynamic file, and only when the file there
        differs - so the routes never name a CA file that is not there yet. O(ca_files)
        names it as Traefik sees it.
    type: str
  ca_dest:
    description: Where to write O(ca_pem) on this host; required with O(ca_pem).
    type: path
  write_mode:
    description:
      - V(atomic) writes a temporary file beside the dynamic file and renames it over the
        old one, so a reader sees the old or the new content, never a part.
      - V(in_place) truncates and rewrites the existing file through its inode. Use it
        when the edge container bind-mounts the dynamic B(file) itself (not its
        directory), where a file replaced by rename is never seen inside the container.
        The trade-off is a short window in which Traefik can read an empty or
        half-written file; it then logs a parse error and keeps its last good
        configuration until the write's next change event, a second later at most.
    type: str
    choices: [atomic, in_place]
    default: atomic
notes:
  - When the edge container bind-mounts the dynamic B(file) itself (not its directory), a
    file replaced by rename is not seen inside the container. Mount the directory, or use
    O(write_mode=in_place).
seealso:
  - module: brmartin.k3s_migration.tls_endpoint_info
"""

EXAMPLES = r"""
- name: Route the PoC hostnames from the edge Traefik to K3s, verifying the hop
  brmartin.k3s_migration.traefik_file_routes:
    path: /opt/traefik/dynamic/dynamic.yml
    routes:
      - name: whoami
        host: whoami.brmartin.co.uk
      - name: overseerr
        host: overseerr-k8s.brmartin.co.uk
    servers:
      - https://192.168.1.5:32443
      - https://192.168.1.6:32443
    server_name: k3s-ingress.brmartin.internal
    ca_files: [/etc/traefik/dynamic/k3s-ingress-ca.pem]
    # the CA file, on the host, written first (the edge container sees it at ca_files)
    ca_pem: "{{ lookup('ansible.builtin.file', 'k3s-ingress-ca.pem') }}"
    ca_dest: /opt/traefik/dynamic/k3s-ingress-ca.pem
    cert_resolver: letsencrypt

- name: Take them out again (rollback)
  brmartin.k3s_migration.traefik_file_routes:
    path: /opt/traefik/dynamic/dynamic.yml
    state: absent
"""

RETURN = r"""
entries:
  description: Names of our routers, services and transport in the file after the run.
  returned: always
  type: dict
  sample: {"routers": ["k3s-whoami"], "services": ["k3s-whoami"], "serversTransports": ["k3s-migration"]}
validated:
  description: Whether the new content was parsed and compared before writing (needs PyYAML on the host).
  returned: always
  type: bool
  sample: true
ca_changed:
  description: Whether O(ca_dest) was (or, in check mode, would be) written.
  returned: always
  type: bool
  sample: false
"""

import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _files as files
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _traefik_file as tfile

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

_NAME = re.compile(r'^[a-z0-9][a-z0-9-]*$')


def _parse(module, text, what):
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        module.fail_json(msg='%s is not valid YAML: %s' % (what, exc))


def _ca_file(module, p):
    """Write ca_pem to ca_dest (0644) where the file there differs, in content or mode:
    (the old content, whether it changed)."""
    if p['ca_pem'] is None:
        return '', False
    dest = p['ca_dest']
    try:
        with open(dest, 'r', encoding='utf-8') as handle:
            old = handle.read()
        old_mode = stat.S_IMODE(os.stat(dest).st_mode)
    except FileNotFoundError:
        old, old_mode = '', None
    except (IOError, OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg='cannot read %s: %s' % (dest, exc))
    if old == p['ca_pem'] and old_mode == 0o644:
        return old, False
    if not module.check_mode:
        try:
            files.write_atomic(module, dest, p['ca_pem'], mode=0o644)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot write %s: %s' % (dest, exc))
    return old, True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            routes=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                host=dict(type='str', required=True),
            )),
            servers=dict(type='list', elements='str', default=[]),
            server_name=dict(type='str'),
            ca_files=dict(type='list', elements='str', default=[]),
            transport=dict(type='str', default='k3s-migration'),
            entrypoints=dict(type='list', elements='str', default=['websecure']),
            cert_resolver=dict(type='str'),
            prefix=dict(type='str', default='k3s-'),
            owner=dict(type='str', default='k3s-migration edge_routes'),
            write_mode=dict(type='str', choices=['atomic', 'in_place'], default='atomic'),
            ca_pem=dict(type='str'),
            ca_dest=dict(type='path'),
        ),
        required_together=[('ca_pem', 'ca_dest')],
        supports_check_mode=True,
    )
    p = module.params
    path = p['path']
    if not os.path.isfile(path):
        module.fail_json(msg='Traefik dynamic file %s does not exist; give the file the edge file provider watches' % path)
    if path.endswith('.toml'):
        module.fail_json(msg='%s is TOML; only a YAML dynamic file can be edited' % path)
    with open(path, 'r', encoding='utf-8') as handle:
        before = handle.read()

    wanted = {}
    if p['state'] == 'present':
        problems = []
        if not p['routes']:
            problems.append('routes is empty')
        if not p['servers'] or not all(s.startswith('https://') for s in p['servers']):
            problems.append('servers must be https:// URLs of the K3s entry point')
        if not p['server_name']:
            problems.append('server_name is required (the name the K3s entry point certificate carries)')
        if not p['ca_files']:
            problems.append('ca_files is required: the hop to K3s is verified, never insecureSkipVerify')
        for route in p['routes']:
            if not _NAME.match(route['name']):
                problems.append('route name %r: use lower-case letters, digits and -' % route['name'])
            if not re.match(r'^[a-z0-9.-]+$', route['host']) or '`' in route['host']:
                problems.append('host %r is not a hostname' % route['host'])
        if len(set(r['name'] for r in p['routes'])) != len(p['routes']):
            problems.append('route names repeat')
        if p['ca_pem'] is not None and '-----BEGIN CERTIFICATE-----' not in p['ca_pem']:
            problems.append('ca_pem is not a PEM certificate')
        if problems:
            module.fail_json(msg='cannot route to K3s: %s' % '; '.join(problems))
        wanted = tfile.entries(p['routes'], p['servers'], p['server_name'], p['ca_files'], p['transport'],
                               p['entrypoints'], p['cert_resolver'], p['prefix'])

    try:
        base = tfile.remove(before, p['owner'])
        after = tfile.insert(before, wanted, p['owner']) if wanted else base
    except tfile.TraefikFileError as exc:
        module.fail_json(msg='%s: %s' % (path, exc))

    validated = False
    if HAS_YAML:
        original = _parse(module, base, path)
        clash = tfile.collisions(original, wanted)
        if clash:
            module.fail_json(msg='%s already defines %s outside our markers; choose another prefix or name'
                             % (path, ', '.join(clash)))
        result = _parse(module, after, 'the edited %s' % path)
        expected = tfile.merged(original, wanted) if wanted else original
        if result != expected:
            module.fail_json(msg='editing %s would change more than our entries; the file was left as it was' % path)
        validated = True

    ca_before, ca_changed = _ca_file(module, p) if p['state'] == 'present' else ('', False)
    changed = after != before
    if changed and not module.check_mode:
        try:  # either way keeps the file's owner, mode and SELinux context
            if p['write_mode'] == 'in_place':
                files.write_in_place(path, after)
            else:
                files.write_atomic(module, path, after)
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot write %s: %s' % (path, exc))
    names = dict((section, sorted(wanted.get(section) or {})) for section in tfile.SECTIONS)
    result = dict(changed=changed or ca_changed, entries=names, validated=validated, ca_changed=ca_changed)
    if not HAS_YAML:
        module.warn('PyYAML is not importable on this host: the edit was not parsed and compared before writing')
    if module._diff:
        result['diff'] = [dict(before=before, after=after, before_header=path, after_header=path)]
        if ca_changed:
            result['diff'].insert(0, dict(before=ca_before, after=p['ca_pem'], before_header=p['ca_dest'],
                                          after_header=p['ca_dest']))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
