#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_node_info
short_description: Read a K3s node's files, unit, tools on PATH and firewalld state in one call
version_added: 0.2.0
description:
  - Reads, in one round trip, what the k3s role would otherwise read with a task each - the
    type, mode and SHA-256 of each of O(paths), the systemd unit's state, what
    C(kubectl), C(crictl) and C(ctr) resolve to on PATH, the ports and sources of
    firewalld zones (runtime and permanent), which OS packages are installed, and whether
    the running node passes its readiness checks - so a re-run that changes nothing skips the tasks whose inputs
    already match, the start-and-wait among them.
  - Changes nothing on the host.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
extends_documentation_fragment:
  - brmartin.k3s_migration.ready_checks
attributes:
  check_mode:
    support: full
    description: Reads only, so check mode runs it as usual.
  diff_mode:
    support: none
    description: Reads only; there is nothing to show a difference of.
options:
  paths:
    description: Files, directories and links to describe (symlinks are not followed).
    type: list
    elements: path
    default: []
  unit:
    description: A systemd unit to read (C(systemctl show)); none when empty.
    type: str
    default: ''
  tools:
    description: Command names to resolve on PATH against O(binary) (see RV(tools)).
    type: list
    elements: str
    default: []
  install_dir:
    description: Where the K3s binary and the links to it for O(tools) live.
    type: path
    default: /usr/local/bin
  binary:
    description: The K3s binary the links of O(tools) point at.
    type: path
    default: /usr/local/bin/k3s
  search_path:
    description: Directories searched for O(tools) after the module's own PATH.
    type: str
    default: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  firewalld_zones:
    description:
      - firewalld zones whose ports, sources and rich rules to read (runtime and permanent), through
        firewalld's Python client, besides the K3s zone (O(firewalld_zone)); firewalld is
        not read at all when empty.
    type: list
    elements: str
    default: []
  firewalld_zone:
    description:
      - The zone the K3s ports belong in. Empty chooses it as the preflight does - the zone
        of the interface carrying O(firewalld_address) (else the default route's
        interface), else firewalld's default zone - and returns it as C(zone) in RV(firewalld).
    type: str
    default: ''
  firewalld_address:
    description:
      - The node's address (K3s's C(node-ip)) for choosing the zone; empty means the
        address K3s picks itself, on the default route's interface.
    type: str
    default: ''
  checksum_record:
    description:
      - A record of files' checksums the k3s role writes on the node - JSON with C(version)
        V(1) and C(files), per path what RV(paths) returned for the file (its C(sha256) and
        C(identity)).
        A file of O(paths) whose device, inode, size, mtime and ctime are those recorded
        is not read again (its C(sha256_from) is C(record)); any other is checksummed.
      - Only read, never written, by this module; a missing or unreadable record means
        every file is read.
    type: path
    default: ''
  packages:
    description:
      - OS packages to look up in the package database (dpkg's where there is one, else
        rpm's); see RV(packages).
    type: list
    elements: str
    default: []
seealso:
  - module: brmartin.k3s_migration.k3s_service
"""

EXAMPLES = r"""
- name: Read the node's K3s state once
  brmartin.k3s_migration.k3s_node_info:
    paths: [/usr/local/bin/k3s, /etc/rancher/k3s/config.yaml]
    unit: k3s
    tools: [kubectl, crictl, ctr]
    firewalld_zones: [trusted]
  register: node

- name: Copy the binary only when it differs from the release's checksum
  ansible.builtin.copy:
    src: airgap/k3s
    dest: /usr/local/bin/k3s
    mode: "0755"
  when: node.paths['/usr/local/bin/k3s'].sha256 | default('') != expected_sha256
"""

RETURN = r"""
paths:
  description:
    - Per path, C(exists) and when it exists C(type) (C(file), C(directory), C(link),
      C(other)) and C(mode); C(size) and C(sha256) for a file, C(target) for a link.
    - For a file also C(identity) (C(dev), C(inode), C(size), C(mtime_ns), C(ctime_ns)) and
      C(sha256_from) - C(record) when O(checksum_record) vouched for the checksum, else C(read).
  returned: always
  type: dict
  sample:
    /usr/local/bin/k3s: {"exists": true, "type": "file", "mode": "0755", "size": 105044124, "sha256": "9f2c...",
                         "sha256_from": "record", "identity": {"dev": 64769, "inode": 1310731, "size": 105044124,
                                                               "mtime_ns": 1764775523000000000,
                                                               "ctime_ns": 1764775523000000000}}
    /usr/local/bin/kubectl: {"exists": true, "type": "link", "mode": "0777", "target": "k3s"}
    /etc/rancher/k3s/config.yaml: {"exists": false}
unit:
  description: The unit's properties from C(systemctl show); empty when O(unit) is empty.
  returned: always
  type: dict
  sample: {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "Result": "success",
           "NRestarts": "0", "UnitFileState": "enabled", "ActiveEnterTimestampMonotonic": "5123456789"}
tools:
  description:
    - Per name, C(action) - C(link) when nothing but K3s answers to it on PATH, C(unlink)
      when our link sits beside another tool of that name, C(keep) when the name belongs to
      another tool only - and C(other), that tool's path.
  returned: always
  type: dict
  sample: {"kubectl": {"action": "link", "other": ""}, "ctr": {"action": "keep", "other": "/usr/bin/ctr"}}
packages:
  description:
    - Per name in O(packages), C(installed) (true, false, or null when the host has neither
      dpkg nor rpm) and C(version) when installed.
  returned: always
  type: dict
  sample: {"container-selinux": {"installed": true, "version": "2.240.0-1.fc43"}}
ready:
  description:
    - C(ok) when O(unit) is active and every one of O(ready_checks) answered what it expects
      (false without O(ready_checks)), else C(reason), naming the check and its answer.
  returned: always
  type: dict
  sample: {"ok": false, "reason": "not Ready in the cluster: got 'False', want 'True'"}
firewalld:
  description:
    - C(running), C(reason) when not, C(zone) (the K3s zone, given or chosen) with
      C(zone_reason) (how it was chosen), and per zone (C(zone) and O(firewalld_zones)) its
      C(ports), C(sources), C(rich_rules), C(permanent_ports), C(permanent_sources) and
      C(permanent_rich_rules), sorted (rich rules in firewalld's own string form).
  returned: always
  type: dict
  sample: {"running": true, "reason": "", "zone": "FedoraServer",
           "zone_reason": "the zone of eth0 (eth0 has the default route)",
           "zones": {"FedoraServer": {
             "ports": ["6443/tcp"], "sources": [],
             "rich_rules": ["rule family=\"ipv4\" source address=\"192.168.1.6\" port port=\"10250\" protocol=\"tcp\" accept"],
             "permanent_ports": ["6443/tcp"], "permanent_sources": [],
             "permanent_rich_rules": ["rule family=\"ipv4\" source address=\"192.168.1.6\" port port=\"10250\" protocol=\"tcp\" accept"]}}}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_node as node


def _ready(module, unit: dict, checks: list) -> dict:
    """Each check once, in order, while the unit is active; the first that fails is the reason."""
    if unit.get('ActiveState') != 'active':
        return {'ok': False, 'reason': 'the unit is %s' % (unit.get('ActiveState') or 'not read')}
    for check in checks:
        try:
            passed, answer = node.ready_check(lambda argv: module.run_command(argv, handle_exceptions=False), check)
        except OSError as exc:  # a missing program: the answer, not a failure of the reading
            return {'ok': False, 'reason': 'not %s: %s' % (check['what'], exc)}
        if not passed:
            return {'ok': False, 'reason': 'not %s: %s' % (check['what'], node.ready_failure(check, answer)[:300])}
    return {'ok': True, 'reason': ''}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type='list', elements='path', default=[]),
            unit=dict(type='str', default=''),
            tools=dict(type='list', elements='str', default=[]),
            install_dir=dict(type='path', default='/usr/local/bin'),
            binary=dict(type='path', default='/usr/local/bin/k3s'),
            search_path=dict(type='str', default='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'),
            firewalld_zones=dict(type='list', elements='str', default=[]),
            firewalld_zone=dict(type='str', default=''),
            firewalld_address=dict(type='str', default=''),
            ready_checks=node.READY_CHECKS_ARGSPEC,
            packages=dict(type='list', elements='str', default=[]),
            checksum_record=dict(type='path', default=''),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, unit={}, ready={'ok': False, 'reason': 'no readiness checks given'},
                  firewalld={'running': False, 'reason': 'not asked', 'zones': {}, 'zone': '', 'zone_reason': ''})
    try:
        record = node.load_checksum_record(params['checksum_record'])
        result['paths'] = {path: node.describe_path(path, record) for path in params['paths']}
    except OSError as exc:
        module.fail_json(msg='Cannot read %s: %s' % (exc.filename, exc.strerror), **result)
    if params['unit']:
        try:
            result['unit'] = node.unit_state(module.run_command, params['unit'])
        except RuntimeError as exc:
            module.fail_json(msg=str(exc), **result)
    if params['ready_checks']:
        result['ready'] = _ready(module, result['unit'], params['ready_checks'])
    search_path = os.environ.get('PATH', '') + ':' + params['search_path']
    result['tools'] = node.tool_actions(params['tools'], params['install_dir'], params['binary'], search_path)
    result['packages'] = node.package_state(lambda argv: module.run_command(argv, environ_update={'LC_ALL': 'C'}),
                                            params['packages'], search_path)
    if params['firewalld_zones']:
        interface, how = '', ''
        if not params['firewalld_zone']:
            interface, how = node.node_interface(module.run_command, params['firewalld_address'])
        result['firewalld'] = node.firewalld_state(params['firewalld_zones'], zone=params['firewalld_zone'],
                                                   interface=interface, interface_reason=how)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
