# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _stage_marker as marker
from ansible_collections.brmartin.k3s_migration.plugins.modules import k8s_stage_marker as module

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)


def deployment(name, generation=2, observed=2, replicas=1, updated=1, available=1, uid='u-' + 'd'):
    return {'metadata': {'name': name, 'uid': uid + name, 'generation': generation},
            'spec': {'replicas': replicas},
            'status': {'observedGeneration': observed, 'updatedReplicas': updated, 'availableReplicas': available}}


def test_workload_readiness():
    assert marker.workload_unready('Deployment', deployment('a')) == ''
    assert 'generation 3' in marker.workload_unready('Deployment', deployment('a', generation=3))
    assert marker.workload_unready('Deployment', deployment('a', replicas=2, updated=2, available=1)) == 'available 1/2'
    ds = {'metadata': {'generation': 1}, 'status': {'observedGeneration': 1, 'desiredNumberScheduled': 3,
                                                    'updatedNumberScheduled': 3, 'numberAvailable': 2}}
    assert marker.workload_unready('DaemonSet', ds) == 'available 2/3'
    sts = {'metadata': {'generation': 1}, 'spec': {'replicas': 1},
           'status': {'observedGeneration': 1, 'updatedReplicas': 1, 'readyReplicas': 0}}
    assert marker.workload_unready('StatefulSet', sts) == 'available 0/1'


def record(**over):
    base = {'digest': 'abc', 'renew_by': '2027-11-01T00:00:00Z',
            'objects': {'CustomResourceDefinition//x.io': 'u1'}, 'workloads': {'Deployment/vpa/rec': 'u2'}}
    base.update(over)
    return base


def live(**over):
    base = {'objects': {'CustomResourceDefinition//x.io': 'u1'}, 'workloads': {'Deployment/vpa/rec': 'u2'}, 'unready': {}}
    base.update(over)
    return base


def test_an_unchanged_stage_is_current():
    assert marker.compare(record(), live(), 'abc', NOW) == []


def test_every_reason_to_run_again_is_named():
    assert marker.compare(None, live(), 'abc', NOW) == ['no record of an earlier run in this cluster']
    assert marker.compare(record(), live(), 'abd', NOW)[0].startswith('the inputs changed')
    assert 'due for renewal' in marker.compare(record(renew_by='2026-12-01T00:00:00Z'), live(), 'abc', NOW)[0]
    assert marker.compare(record(), live(objects={}), 'abc', NOW) == ['object CustomResourceDefinition//x.io is gone']
    again = marker.compare(record(), live(objects={'CustomResourceDefinition//x.io': 'u9'}), 'abc', NOW)
    assert again == ['object CustomResourceDefinition//x.io was made again (uid u9, recorded u1)']
    extra = live(workloads={'Deployment/vpa/rec': 'u2', 'Deployment/vpa/other': 'u3'})
    assert marker.compare(record(), extra, 'abc', NOW) == ['workload Deployment/vpa/other is new']
    sick = live(unready={'Deployment/vpa/rec': 'available 0/1'})
    assert marker.compare(record(), sick, 'abc', NOW) == ['workload Deployment/vpa/rec is not Ready: available 0/1']


def test_renewal_is_due_renew_days_before_the_earliest_expiry():
    dates = [datetime.datetime(2027, 3, 1, tzinfo=datetime.timezone.utc), datetime.datetime(2036, 1, 1, tzinfo=datetime.timezone.utc)]
    assert marker.renew_by(dates, 30) == '2027-01-30T00:00:00Z'
    assert marker.renew_by([], 30) == ''


class FakeApi:
    def __init__(self, objects):
        self.objects, self.calls = objects, []

    def call(self, method, path, body=None):
        self.calls.append((method, path))
        return self.objects.get(path)


def test_read_live_reads_each_object_and_lists_each_namespace_once_per_kind():
    api = FakeApi({
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.io': {'metadata': {'uid': 'u1'}},
        '/apis/apps/v1/namespaces/vpa/deployments': {'items': [deployment('rec'), deployment('upd', available=0)]},
    })
    got = module.read_live(api, ['vpa'], [module.parse_object('CustomResourceDefinition/x.io'),
                                          module.parse_object('Secret/vpa/s')])
    assert got['objects'] == {'CustomResourceDefinition//x.io': 'u1'}
    assert got['workloads'] == {'Deployment/vpa/rec': 'u-drec', 'Deployment/vpa/upd': 'u-dupd'}
    assert got['unready'] == {'Deployment/vpa/upd': 'available 0/1'}
    assert ('GET', '/api/v1/namespaces/vpa/secrets/s') in api.calls
    assert len(api.calls) == 2 + 3


def test_object_references_are_checked():
    assert module.parse_object('CustomResourceDefinition//x.io') == ('CustomResourceDefinition', '', 'x.io')
    assert module.parse_object('Secret/vpa/s') == ('Secret', 'vpa', 's')
    for bad, says in (('Secret/s', 'namespaced'), ('StorageClass/ns/x', 'cluster-scoped'),
                      ('Pod/ns/p', 'not one this module reads'), ('a/b/c/d', 'not Kind/namespace/name')):
        try:
            module.parse_object(bad)
        except ValueError as exc:
            assert says in str(exc)
        else:
            raise AssertionError(bad)
