#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state
short_description: Record a host's network, firewall, services and paths, and compare with the record later
version_added: 0.1.0
description:
  - With O(state=snapshot), reads interfaces and addresses, routes, iptables chains and
    rules, nftables tables, listening sockets, systemd units and every entry under
    O(paths) (type, mode, SHA-256 of files, symlink targets) and writes them as a JSON
    record to O(path) on the host.
  - With O(state=compare), reads the host the same way and returns what was C(added),
    C(removed) or C(changed) per category since the record was taken. Fails when any
    difference is neither matched by O(ignore) nor Nomad's expected churn.
  - Nomad's expected churn (O(nomad_churn)) is what a running Nomad client changes by
    itself while K3s comes and goes - allocations starting, stopping and restarting - and
    is named in one place (C(NOMAD_CHURN) in module_utils/_hoststate.py) - a veth on
    Nomad's bridge (O(nomad_bridge)); CNI's leases and cached results for Nomad's network
    (O(nomad_cni_network)); rules carrying CNI's comment for that network and the CNI-*
    chains only they use; listeners on Nomad's dynamic ports (O(nomad_dynamic_ports)) held
    by processes that are not K3s's; mount units of allocations (alloc directories, network
    namespaces named by allocation ID, Docker's). It is returned as RV(churn), not failed
    on. What K3s could leave (cni0 and flannel interfaces, its veths, KUBE-/FLANNEL- and
    cbr0 CNI chains, its mounts and units, cbr0's CNI files, its ports) is never churn.
  - With O(nomad_workloads_path), the same call also takes or compares the record of the
    Nomad jobs, running allocations and held host ports the local agent reports, as
    M(brmartin.k3s_migration.nomad_workloads) does - both records in one round trip.
  - Reading never changes the host; only O(state=snapshot) writes, and only O(path) (and
    O(nomad_workloads_path)).
  - Categories the host cannot provide (for example iptables in an emulated arm64
    container) are listed in RV(unavailable) and not compared.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
extends_documentation_fragment:
  - brmartin.k3s_migration.nomad
attributes:
  check_mode:
    support: full
    description: In check mode a snapshot is taken and compared with O(path) but not written.
  diff_mode:
    support: full
    description: A snapshot that replaces a record returns the differences as the diff.
options:
  state:
    description: Take a record, or compare the host with one.
    type: str
    choices: [snapshot, compare]
    required: true
  path:
    description: The JSON record on the host.
    type: path
    required: true
  paths:
    description:
      - Files and directories whose content is recorded (symlinks are not followed).
      - With O(state=compare), the paths stored in the record are used.
    type: list
    elements: path
    default: [/var/lib/cni, /opt/cni, /etc/cni]
  overwrite:
    description:
      - With O(state=snapshot), replace an existing record. By default a record, once
        taken, is kept, so re-running a playbook never replaces the "before" picture.
    type: bool
    default: false
  ignore:
    description:
      - Differences to accept with O(state=compare), as V(CATEGORY) or V(CATEGORY:GLOB)
        matched against the key (for example V(units:k3s*), V(paths:/var/lib/cni/cache/*)).
      - Categories are C(interfaces), C(routes), C(iptables), C(nft), C(sockets), C(units), C(paths).
    type: list
    elements: str
    default: []
  nomad_churn:
    description: Accept Nomad's expected churn (see the description) on O(state=compare).
    type: bool
    default: true
  nomad_bridge:
    description: Nomad's bridge (its client C(bridge_network_name)).
    type: str
    default: nomad
  nomad_cni_network:
    description: The CNI network name of Nomad's bridge networking, as CNI's files and rule comments carry it.
    type: str
    default: nomad
  nomad_dynamic_ports:
    description: Nomad's dynamic port range (C(MIN-MAX)), as its client is configured.
    type: str
    default: 20000-32000
  nomad_workloads_path:
    description:
      - Also take (O(state=snapshot), kept like O(path) unless O(overwrite)) or compare
        (O(state=compare)) the Nomad workloads record in this JSON file on the host, asking
        the agent at O(nomad_addr) (C(GET) requests only). Empty leaves Nomad's workloads out.
      - A compare fails when either record differs, naming the differences of both.
    type: path
    default: ''
seealso:
  - module: brmartin.k3s_migration.coexistence_preflight
  - module: brmartin.k3s_migration.nomad_workloads
"""

EXAMPLES = r"""
- name: Record the host before K3s is added (kept on re-runs)
  brmartin.k3s_migration.host_state:
    state: snapshot
    path: /var/lib/k3s-migration/host-state.json

- name: Record the host and the Nomad workloads in one call
  brmartin.k3s_migration.host_state:
    state: snapshot
    path: /var/lib/k3s-migration/host-state.json
    nomad_workloads_path: /var/lib/k3s-migration/nomad-workloads.json

- name: After the rollback, the host must match the record
  brmartin.k3s_migration.host_state:
    state: compare
    path: /var/lib/k3s-migration/host-state.json
    ignore:
      - "units:k3s*"
"""

RETURN = r"""
record:
  description: Summary of the record written or compared against (counts per category).
  returned: always
  type: dict
  sample: {"interfaces": 4, "routes": 3, "iptables": 12, "nft": 2, "sockets": 9, "units": 120, "paths": 6}
taken_at:
  description: When the record at O(path) was taken (UTC, ISO 8601).
  returned: always
  type: str
  sample: "2026-11-26T06:30:00Z"
differences:
  description: With O(state=compare), differences not matched by O(ignore), per category.
  returned: when state is compare
  type: dict
  sample: {"iptables": {"added": ["nat/KUBE-SERVICES"], "removed": [], "changed": []}}
ignored:
  description: With O(state=compare), differences matched by O(ignore).
  returned: when state is compare
  type: dict
  sample: {}
churn:
  description: With O(state=compare), the differences that are Nomad's expected churn, per category.
  returned: when state is compare
  type: dict
  sample: {"interfaces": {"added": ["veth4c1d2e3f"], "removed": [], "changed": []}}
churn_summary:
  description: One line per difference that is Nomad's expected churn.
  returned: when state is compare
  type: list
  elements: str
  sample: ["interfaces added: veth4c1d2e3f"]
summary:
  description: One line per difference not ignored.
  returned: when state is compare
  type: list
  elements: str
  sample: ["iptables added: nat/KUBE-SERVICES"]
nomad_workloads:
  description:
    - With O(nomad_workloads_path), what M(brmartin.k3s_migration.nomad_workloads) returns
      for that record - C(changed), C(jobs), C(host_ports) (both empty when a kept record
      was not compared), and C(differences) on compare.
  returned: when nomad_workloads_path is set
  type: dict
  sample: {"changed": false, "jobs": [{"id": "minio", "namespace": "default", "type": "service", "status": "running",
                                       "running_allocations": ["minio"]}],
           "host_ports": [{"port": 9000, "label": "s3", "job": "minio", "to": 9000}], "differences": []}
unavailable:
  description: Categories that could not be read on this host, with the reason.
  returned: always
  type: dict
  sample: {"iptables": "iptables-save: Failed to initialize nft: Protocol not supported"}
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _files as files
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hoststate as hoststate
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _nomad_api as nomad_api


def _counts(categories: dict) -> dict:
    return dict((k, len(v)) for k, v in categories.items())


def _load(module, path):
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read the host-state record %s: %s (take one with state=snapshot first)'
                         % (path, exc))
    except ValueError as exc:
        module.fail_json(msg='host-state record %s is not valid JSON: %s' % (path, exc))
    if not isinstance(data, dict) or data.get('version') != hoststate.RECORD_VERSION:
        module.fail_json(msg='host-state record %s has an unknown format (want version %d)'
                         % (path, hoststate.RECORD_VERSION))
    return data


def _write(module, path, data):
    try:
        files.write_atomic(module, path, json.dumps(data, indent=1, sort_keys=True), mode=0o600, make_dir_mode=0o700)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write the host-state record %s: %s' % (path, exc))


def _host(module, params, run, dynamic):
    """The host-state record: (result, failure message or None)."""
    path = params['path']
    if params['state'] == 'compare':
        old = _load(module, path)
        current = hoststate.take(run, old.get('paths', params['paths']))
        skip = set(old.get('unavailable', {})) | set(current['unavailable'])
        churn = None
        if params['nomad_churn']:
            churn = hoststate.NomadChurn(old['categories'], current['categories'], params['nomad_bridge'],
                                         params['nomad_cni_network'], dynamic)
        diffs, ignored, churned = hoststate.compare(old['categories'], current['categories'], params['ignore'], skip,
                                                    churn=churn or (lambda *_args: False))
        summary = hoststate.summarize(diffs)
        result = dict(changed=False, record=_counts(old['categories']), taken_at=old['taken_at'],
                      differences=diffs, ignored=ignored, summary=summary, unavailable=current['unavailable'],
                      churn=churned, churn_summary=hoststate.summarize(churned))
        failure = None
        if diffs:
            failure = ('host differs from the record %s taken %s in %d place(s):\n- %s'
                       % (path, old['taken_at'], len(summary), '\n- '.join(summary)))
        return result, failure

    exists = os.path.exists(path)
    if exists and not params['overwrite']:
        old = _load(module, path)
        return dict(changed=False, record=_counts(old['categories']), taken_at=old['taken_at'],
                    unavailable=old.get('unavailable', {})), None
    current = hoststate.take(run, params['paths'])
    taken_at = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    data = {'version': hoststate.RECORD_VERSION, 'taken_at': taken_at, 'paths': params['paths'],
            'categories': current['categories'], 'unavailable': current['unavailable']}
    result = dict(record=_counts(current['categories']), taken_at=taken_at, unavailable=current['unavailable'])
    changed = True
    if exists:
        old = _load(module, path)
        diffs, _ignored = hoststate.compare(old['categories'], current['categories'])
        changed = bool(diffs) or old.get('paths') != params['paths']
        if module._diff:
            result['diff'] = {'before_header': '%s (%s)' % (path, old['taken_at']), 'after_header': path,
                              'before': '', 'after': '\n'.join(hoststate.summarize(diffs)) + '\n'}
        if not changed:
            result['taken_at'] = old['taken_at']
    elif module._diff:
        result['diff'] = {'before_header': path, 'after_header': path, 'before': '',
                          'after': json.dumps(_counts(current['categories']), sort_keys=True) + '\n'}
    if changed and not module.check_mode:
        _write(module, path, data)
    result['changed'] = changed
    return result, None


def main():
    argument_spec = dict(
        state=dict(type='str', choices=['snapshot', 'compare'], required=True),
        path=dict(type='path', required=True),
        paths=dict(type='list', elements='path', default=['/var/lib/cni', '/opt/cni', '/etc/cni']),
        overwrite=dict(type='bool', default=False),
        ignore=dict(type='list', elements='str', default=[]),
        nomad_churn=dict(type='bool', default=True),
        nomad_bridge=dict(type='str', default='nomad'),
        nomad_cni_network=dict(type='str', default='nomad'),
        nomad_dynamic_ports=dict(type='str', default='20000-32000'),
        nomad_workloads_path=dict(type='path', default=''),
    )
    argument_spec.update(nomad_api.NOMAD_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    for pattern in params['ignore']:
        if pattern.partition(':')[0] not in hoststate.CATEGORIES:
            module.fail_json(msg='ignore entry %r names no category; use one of %s'
                             % (pattern, ', '.join(hoststate.CATEGORIES)))
    if params['nomad_workloads_path'] and params['nomad_workloads_path'] == params['path']:
        module.fail_json(msg='nomad_workloads_path must differ from path (both are %s)' % params['path'])

    try:
        dynamic = netparse.parse_port_range(params['nomad_dynamic_ports'])
    except netparse.ParseError as exc:
        module.fail_json(msg='nomad_dynamic_ports: %s' % exc)

    def run(argv):
        return module.run_command(argv, check_rc=False, environ_update={'LC_ALL': 'C'})

    def write(path, text):
        files.write_atomic(module, path, text, mode=0o600, make_dir_mode=0o700)

    result, failure = _host(module, params, run, dynamic)
    failures = [failure] if failure else []
    if params['nomad_workloads_path']:
        try:
            result['nomad_workloads'] = nomad_api.workloads_record(
                lambda: nomad_api.NomadClient.from_params(params), params['nomad_addr'], params['state'],
                params['nomad_workloads_path'], params['overwrite'], module.check_mode, write)
        except nomad_api.RecordError as exc:
            result['nomad_workloads'] = exc.result
            failures.append(str(exc))
        result['changed'] = result['changed'] or result['nomad_workloads'].get('changed', False)
    if failures:
        module.fail_json(msg='\n'.join(failures), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
