#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nomad_workloads
short_description: Record the Nomad jobs and allocations a node's agent reports, and compare later
version_added: 0.1.0
description:
  - With O(state=snapshot), asks the local Nomad agent for its jobs, their running
    allocations and the host ports they hold, and writes them as JSON to O(path), once
    (a record is kept on re-runs unless O(overwrite=true)).
  - With O(state=compare), asks again and fails when a job, a running allocation or a
    held host port disappeared or changed - the proof that K3s, or its removal, left
    Nomad's workloads alone.
  - Only C(GET) requests are sent to Nomad.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
extends_documentation_fragment:
  - brmartin.k3s_migration.nomad
attributes:
  check_mode:
    support: full
    description: A snapshot is not written in check mode.
  diff_mode:
    support: none
    description: The record is summarized in RV(jobs) instead.
options:
  state:
    description: Take the record, or compare Nomad with it.
    type: str
    choices: [snapshot, compare]
    required: true
  path:
    description: The JSON record on the node.
    type: path
    required: true
  overwrite:
    description: With O(state=snapshot), replace an existing record.
    type: bool
    default: false
seealso:
  - module: brmartin.k3s_migration.host_state
"""

EXAMPLES = r"""
- name: Record Nomad's workloads before K3s
  brmartin.k3s_migration.nomad_workloads:
    state: snapshot
    path: /var/lib/k3s-migration/nomad-workloads.json

- name: After the rollback, Nomad runs what it ran
  brmartin.k3s_migration.nomad_workloads:
    state: compare
    path: /var/lib/k3s-migration/nomad-workloads.json
    nomad_token: "{{ lookup('ansible.builtin.env', 'NOMAD_TOKEN') }}"
"""

RETURN = r"""
jobs:
  description:
    - Jobs of every namespace now, with their running allocations (task groups). Empty when
      an existing record is kept. Records written without C(namespace) compare as V(default).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "minio", "namespace": "default", "type": "service", "status": "running", "running_allocations": ["minio"]}]
host_ports:
  description: Host ports held by running allocations on this node. Empty when an existing record is kept.
  returned: always
  type: list
  elements: dict
  sample: [{"port": 9000, "label": "s3", "job": "minio", "to": 9000}]
differences:
  description: With O(state=compare), one line per job or port that differs from the record.
  returned: when state is compare
  type: list
  elements: str
  sample: ["job minio: running allocations ['minio'] -> []"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _files as files
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _nomad_api as nomad_api


def main():
    argument_spec = dict(
        state=dict(type='str', choices=['snapshot', 'compare'], required=True),
        path=dict(type='path', required=True),
        overwrite=dict(type='bool', default=False),
    )
    argument_spec.update(nomad_api.NOMAD_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    def write(path, text):
        files.write_atomic(module, path, text, mode=0o600, make_dir_mode=0o700)

    try:
        result = nomad_api.workloads_record(lambda: nomad_api.NomadClient.from_params(params), params['nomad_addr'],
                                            params['state'],
                                            params['path'], params['overwrite'], module.check_mode, write)
    except nomad_api.RecordError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
