#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_apply
short_description: Server-side apply a few Kubernetes objects, in one light process
version_added: 0.2.0
description:
  - Applies each of O(definitions) with server-side apply (C(PATCH), C(application/apply-patch+yaml))
    under O(field_manager), in order, and returns the objects as the API answered.
  - For the few objects a stage keeps on every run (the Vault token reviewer, for example),
    it talks to the API with the standard library (module_utils/_k8s_api.py), one kept-alive
    connection and one discovery request per API group version, without importing the
    kubernetes Python client - a run costs a fraction of M(kubernetes.core.k8s)'s. For charts
    and CRD bundles, use M(kubernetes.core.k8s) or Helm.
  - C(changed) comes from comparing each object before and after the apply, without
    C(metadata.resourceVersion), C(metadata.generation) and C(metadata.managedFields) and
    C(status); an object that did not exist is a change.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description:
      - Each apply to an object that exists is sent with C(dryRun=All) (the API validates it
        and stores nothing); an object that does not exist is reported as created, unsent.
  diff_mode:
    support: full
    description: The objects before and after, the data of Secrets left out.
options:
  kubeconfig:
    description: The kubeconfig of the cluster (its current context).
    type: path
    required: true
  definitions:
    description:
      - The objects, each with C(apiVersion), C(kind) and C(metadata.name) (and
        C(metadata.namespace) for a namespaced kind).
    type: list
    elements: dict
    required: true
  field_manager:
    description: The field manager the fields are applied as.
    type: str
    default: brmartin.k3s_migration
  force_conflicts:
    description: Take over fields another manager set (C(force=true)).
    type: bool
    default: true
seealso:
  - module: kubernetes.core.k8s
  - module: brmartin.k3s_migration.k8s_stage_marker
"""

EXAMPLES = r"""
- name: Apply the token reviewer's service account, binding and token Secret
  brmartin.k3s_migration.k8s_apply:
    kubeconfig: ~/.kube/k3s-migration.yaml
    definitions: "{{ lookup('ansible.builtin.template', 'token-reviewer.yaml.j2') | ansible.builtin.from_yaml_all | list }}"
  register: applied
  no_log: true  # a Secret comes back with its data
"""

RETURN = r"""
resources:
  description:
    - Each object as the API answered the apply (in check mode, the dry run's answer, or the
      definition itself for an object that does not exist yet).
  returned: always
  type: list
  elements: dict
  sample: [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "vault-token-reviewer",
                                                                       "namespace": "vault-auth", "uid": "6f1c..."}}]
applied:
  description: Per object, C(Kind/namespace/name) (or C(Kind/name)) and whether it was C(created), C(changed) or C(unchanged).
  returned: always
  type: list
  elements: dict
  sample: [{"object": "ServiceAccount/vault-auth/vault-token-reviewer", "result": "unchanged"}]
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k8s_api as k8s_api

IGNORED_METADATA = ('resourceVersion', 'generation', 'managedFields')


def comparable(obj):
    """The object without what the API changes by itself on every write."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.pop('status', None)
    for key in IGNORED_METADATA:
        (out.get('metadata') or {}).pop(key, None)
    return out


def shown(obj):
    """The object for the diff: a Secret's data left out."""
    out = comparable(obj)
    if out and out.get('kind') == 'Secret':
        for key in ('data', 'stringData'):
            if key in out:
                out[key] = dict((k, '(hidden)') for k in out[key])
    return out or {}


def validate(definition, index):
    for key in ('apiVersion', 'kind'):
        if not isinstance(definition.get(key), str) or not definition[key]:
            return 'definitions[%d] has no %s' % (index, key)
    if not (definition.get('metadata') or {}).get('name'):
        return 'definitions[%d] (%s) has no metadata.name' % (index, definition['kind'])
    return ''


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type='path', required=True),
            definitions=dict(type='list', elements='dict', required=True),
            field_manager=dict(type='str', default='brmartin.k3s_migration'),
            force_conflicts=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problems = [p for p in (validate(d, i) for i, d in enumerate(params['definitions'])) if p]
    if problems:
        module.fail_json(msg='; '.join(problems))
    resources, applied, before, after = [], [], [], []
    try:
        api = k8s_api.Api(params['kubeconfig'])
        for definition in params['definitions']:
            path, ref = api.object_path(definition)
            old = api.call('GET', path)
            if old is None and module.check_mode:
                # nothing to dry-run against: its namespace may be one this run would create
                new = definition
            else:
                new = api.apply(path, definition, params['field_manager'], force=params['force_conflicts'],
                                dry_run=module.check_mode)
            result = 'created' if old is None else ('unchanged' if comparable(old) == comparable(new) else 'changed')
            resources.append(new)
            applied.append({'object': ref, 'result': result})
            before.append(shown(old))
            after.append(shown(new))
        api.close()
    except k8s_api.ApiError as exc:
        module.fail_json(msg='the API refused %s' % exc, applied=applied)
    except k8s_api.K8sError as exc:
        module.fail_json(msg='cannot apply through %s: %s' % (params['kubeconfig'], exc), applied=applied)
    changed = any(a['result'] != 'unchanged' for a in applied)
    module.exit_json(changed=changed, resources=resources, applied=applied,
                     diff={'before': before, 'after': after} if changed else {})


if __name__ == '__main__':
    main()
