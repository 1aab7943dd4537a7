#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_stage_marker
short_description: Record what a stage applied to a cluster, and tell whether a re-run can skip it
version_added: 0.2.0
description:
  - A stage that applies many objects through the API (charts, CRD bundles) costs a minute
    to re-apply even when nothing changed. This module keeps, in one ConfigMap, the digest
    of the stage's inputs and what the stage left - the uids of named objects, and every
    Deployment, DaemonSet and StatefulSet in its namespaces - so the next run can skip the
    stage when nothing it reads changed and nothing it made is gone.
  - With O(state=query) (changes nothing), returns RV(current) and, when it is false, the
    RV(reasons) - no record, other inputs, a named object deleted or made again, a workload
    added, deleted or not Ready, a certificate due for renewal. It reads with a few GETs and
    one list per namespace and kind, in one process.
  - With O(state=present), records the current state under O(digest) (after the stage
    applied everything; a workload not Ready yet is recorded, and the next query names it).
    With O(state=absent), deletes the record.
  - Talks to the API with the standard library (module_utils/_k8s_api.py) - no kubernetes
    Python client to import, one kept-alive connection.
  - What it cannot see is a hand edit to an object that still exists with the same uid;
    the stage's own switch to apply everything anyway is the way to undo one.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
requirements:
  - cryptography (only with O(certificates))
attributes:
  check_mode:
    support: full
    description: O(state=present) and O(state=absent) report what they would change without writing.
  diff_mode:
    support: full
    description: The record before and after.
options:
  kubeconfig:
    description: The kubeconfig of the cluster.
    type: path
    required: true
  name:
    description: The ConfigMap holding the record.
    type: str
    required: true
  namespace:
    description: The ConfigMap's namespace.
    type: str
    default: kube-system
  state:
    description: Compare with the record, record, or delete the record.
    type: str
    choices: [query, present, absent]
    default: query
  digest:
    description: The digest of everything the stage reads (variables, templates, charts). Required unless O(state=absent).
    type: str
  namespaces:
    description: The stage's namespaces; their Deployments, DaemonSets and StatefulSets are recorded and must be Ready.
    type: list
    elements: str
    default: []
  objects:
    description:
      - Further objects whose uid is recorded (a deleted or re-made one is a reason to run
        again), each C(Kind/namespace/name), or C(Kind/name) when cluster-scoped.
      - "Kinds read: Namespace, CustomResourceDefinition, MutatingWebhookConfiguration,
        ValidatingWebhookConfiguration, StorageClass, PersistentVolume (cluster-scoped), Secret,
        ConfigMap, Service (namespaced)."
    type: list
    elements: str
    default: []
  certificates:
    description:
      - PEM certificates the stage keeps (public material). With O(state=present) the earliest
        expiry less O(renew_days) is recorded; from then on O(state=query) says the stage must run.
    type: list
    elements: str
    default: []
  renew_days:
    description: How many days before expiry the stage renews a certificate.
    type: int
    default: 30
  data:
    description: Public values to keep with the record (for instance a CA the next stage needs), returned by O(state=query).
    type: dict
    default: {}
  labels:
    description: Labels of the ConfigMap.
    type: dict
    default: {}
seealso:
  - module: brmartin.k3s_migration.tree_checksum
"""

EXAMPLES = r"""
- name: Can the platform stage be skipped?
  brmartin.k3s_migration.k8s_stage_marker:
    kubeconfig: ~/.kube/k3s-migration.yaml
    name: k3s-migration-platform
    digest: "{{ platform_digest }}"
    namespaces: [vpa, entrypoint]
    objects: [CustomResourceDefinition/verticalpodautoscalers.autoscaling.k8s.io]
  register: marker

- name: After applying everything, record it
  brmartin.k3s_migration.k8s_stage_marker:
    kubeconfig: ~/.kube/k3s-migration.yaml
    name: k3s-migration-platform
    state: present
    digest: "{{ platform_digest }}"
    namespaces: [vpa, entrypoint]
    objects: [CustomResourceDefinition/verticalpodautoscalers.autoscaling.k8s.io, Secret/vpa/vpa-tls-certs]
    certificates: ["{{ ca_pem }}"]
    data:
      ca_pem: "{{ ca_pem }}"
"""

RETURN = r"""
current:
  description: With O(state=query), whether the record matches this run's inputs and the cluster.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the stage must run again (empty when RV(current)).
  returned: always
  type: list
  elements: str
  sample: ["workload Deployment/vpa/vpa-recommender is gone"]
data:
  description: The public values kept with the record (O(state=query)), or those recorded.
  returned: always
  type: dict
  sample: {"ca_pem": "-----BEGIN CERTIFICATE-----..."}
record:
  description: The record (digest, renew_by, objects and workloads by uid) as stored or about to be.
  returned: always
  type: dict
"""

import datetime
import json
import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k8s_api as k8s_api
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _stage_marker as marker

# Kind -> (API path prefix, plural, namespaced)
KINDS = {
    'Namespace': ('/api/v1', 'namespaces', False),
    'Secret': ('/api/v1', 'secrets', True),
    'ConfigMap': ('/api/v1', 'configmaps', True),
    'Service': ('/api/v1', 'services', True),
    'PersistentVolume': ('/api/v1', 'persistentvolumes', False),
    'CustomResourceDefinition': ('/apis/apiextensions.k8s.io/v1', 'customresourcedefinitions', False),
    'MutatingWebhookConfiguration': ('/apis/admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', False),
    'ValidatingWebhookConfiguration': ('/apis/admissionregistration.k8s.io/v1', 'validatingwebhookconfigurations', False),
    'StorageClass': ('/apis/storage.k8s.io/v1', 'storageclasses', False),
}
WORKLOAD_PLURALS = {'Deployment': 'deployments', 'DaemonSet': 'daemonsets', 'StatefulSet': 'statefulsets'}
RECORD_KEY = 'record.json'
DATA_KEY = 'data.json'


def parse_object(ref):
    """C(Kind/namespace/name) or C(Kind/name) -> (kind, namespace, name); ValueError says what is wrong."""
    parts = ref.split('/')
    if len(parts) == 2:
        parts.insert(1, '')
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise ValueError('%r is not Kind/namespace/name or Kind/name' % ref)
    kind, namespace, name = parts
    if kind not in KINDS:
        raise ValueError('%r: kind %s is not one this module reads (%s)' % (ref, kind, ', '.join(sorted(KINDS))))
    if KINDS[kind][2] != bool(namespace):
        scope = 'namespaced: name its namespace' if KINDS[kind][2] else 'cluster-scoped: no namespace'
        raise ValueError('%r: %s is %s' % (ref, kind, scope))
    return kind, namespace, name


def _object_path(kind, namespace, name):
    prefix, plural, namespaced = KINDS[kind]
    if namespaced:
        return '%s/namespaces/%s/%s/%s' % (prefix, namespace, plural, name)
    return '%s/%s/%s' % (prefix, plural, name)


def read_live(api, namespaces, objects):
    live = {'objects': {}, 'workloads': {}, 'unready': {}}
    for kind, namespace, name in objects:
        found = api.call('GET', _object_path(kind, namespace, name))
        if found:
            live['objects'][marker.key(kind, namespace, name)] = found['metadata']['uid']
    for namespace in namespaces:
        for kind, plural in WORKLOAD_PLURALS.items():
            listing = api.call('GET', '/apis/apps/v1/namespaces/%s/%s' % (namespace, plural)) or {}
            for item in listing.get('items') or []:
                k = marker.key(kind, namespace, item['metadata']['name'])
                live['workloads'][k] = item['metadata']['uid']
                why = marker.workload_unready(kind, item)
                if why:
                    live['unready'][k] = why
    return live


def not_after(pems):
    from cryptography import x509
    dates = []
    for pem in pems:
        for block in re.findall(r'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', pem or '', re.S):
            cert = x509.load_pem_x509_certificate(block.encode())
            when = getattr(cert, 'not_valid_after_utc', None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
            dates.append(when)
    return dates


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type='path', required=True),
            name=dict(type='str', required=True),
            namespace=dict(type='str', default='kube-system'),
            state=dict(type='str', choices=['query', 'present', 'absent'], default='query'),
            digest=dict(type='str'),
            namespaces=dict(type='list', elements='str', default=[]),
            objects=dict(type='list', elements='str', default=[]),
            certificates=dict(type='list', elements='str', default=[]),
            renew_days=dict(type='int', default=30),
            data=dict(type='dict', default={}),
            labels=dict(type='dict', default={}),
        ),
        required_if=[('state', 'query', ['digest']), ('state', 'present', ['digest'])],
        supports_check_mode=True,
    )
    params = module.params
    try:
        objects = [parse_object(ref) for ref in params['objects']]
    except ValueError as exc:
        module.fail_json(msg='objects: %s' % exc)
    if params['renew_days'] < 0:
        module.fail_json(msg='renew_days must not be negative, got %d' % params['renew_days'])
    cm_path = '/api/v1/namespaces/%s/configmaps/%s' % (params['namespace'], params['name'])
    try:
        api = k8s_api.Api(params['kubeconfig'])
        existing = api.call('GET', cm_path)
        stored = (existing or {}).get('data') or {}
        record = json.loads(stored[RECORD_KEY]) if RECORD_KEY in stored else None
        kept = json.loads(stored[DATA_KEY]) if DATA_KEY in stored else {}
        state = params['state']
        if state == 'absent':
            changed = existing is not None
            if changed and not module.check_mode:
                api.call('DELETE', cm_path)
            module.exit_json(changed=changed, current=False, reasons=[], data={}, record={},
                             diff={'before': record or {}, 'after': {}})
        live = read_live(api, params['namespaces'], objects)
        if state == 'query':
            reasons = marker.compare(record, live, params['digest'], datetime.datetime.now(datetime.timezone.utc))
            module.exit_json(changed=False, current=not reasons, reasons=reasons,
                             data=kept if not reasons else {}, record=record or {})
        # A workload not Ready yet is recorded all the same: the next query sees it and says so.
        try:
            dates = not_after(params['certificates'])
        except ImportError:
            module.fail_json(msg=missing_required_lib('cryptography'), exception=traceback.format_exc())
        except ValueError as exc:
            module.fail_json(msg='certificates: not a PEM certificate (%s)' % exc)
        new = {'digest': params['digest'], 'renew_by': marker.renew_by(dates, params['renew_days']),
               'objects': live['objects'], 'workloads': live['workloads']}
        body_data = {RECORD_KEY: json.dumps(new, sort_keys=True), DATA_KEY: json.dumps(params['data'], sort_keys=True)}
        labels = {str(k): str(v) for k, v in params['labels'].items()}
        changed = existing is None or stored != body_data or (existing['metadata'].get('labels') or {}) != labels
        if changed and not module.check_mode:
            body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'data': body_data,
                    'metadata': {'name': params['name'], 'namespace': params['namespace'], 'labels': labels}}
            if existing is None:
                api.call('POST', '/api/v1/namespaces/%s/configmaps' % params['namespace'], body=body)
            else:
                body['metadata']['resourceVersion'] = existing['metadata']['resourceVersion']
                api.call('PUT', cm_path, body=body)
        module.exit_json(changed=changed, current=True, reasons=[], data=params['data'], record=new,
                         diff={'before': record or {}, 'after': new})
    except k8s_api.ApiError as exc:
        module.fail_json(msg='the API refused %s' % exc)
    except k8s_api.K8sError as exc:
        module.fail_json(msg='the API (%s) did not answer: %s' % (params['kubeconfig'], exc))


if __name__ == '__main__':
    main()
