# SPDX-License-Identifier: GPL-3.0-or-later
"""vault_kubernetes_access input checks and planning against a recorded-answer transport."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _vault as vault

CERT = '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % base64.b64encode(b'\x30\x82\x01\x00' + b'\x01' * 60).decode()
JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'


def spec(**extra):
    value = {'state': 'present', 'mount': 'kubernetes', 'kubernetes_host': 'https://192.168.1.5:6443',
             'kubernetes_ca_cert': CERT, 'token_reviewer_jwt': JWT, 'token_reviewer_jwt_update': 'on_create',
             'policies': [{'name': 'k8s-overseerr', 'rules': 'path "nomad/data/default/overseerr-k8s" {}'}],
             'roles': [{'name': 'overseerr', 'service_accounts': ['overseerr'], 'namespaces': ['overseerr'],
                        'policies': ['k8s-overseerr'], 'token_ttl': 3600, 'audience': None}],
             'kv_mount': 'nomad', 'kv_secrets': [{'path': 'default/overseerr-k8s', 'data': {'K': 'v'}}]}
    value.update(extra)
    return value


def test_pem_is_normalized_and_bad_pem_refused():
    normalized = vault.pem_certificates(CERT)
    assert vault.pem_certificates(CERT.replace('\n', '\r\n') + CERT) == normalized * 2
    assert max(len(line) for line in normalized[0].splitlines()) == 64
    for text in ('', 'no cert', '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----'):
        with pytest.raises(vault.InvalidInput):
            vault.pem_certificates(text)


@pytest.mark.parametrize('extra, message', [
    ({'kubernetes_host': 'http://192.168.1.5:6443'}, 'must be the K3s API as https'),
    ({'kubernetes_ca_cert': ''}, 'kubernetes_ca_cert is missing'),
    ({'token_reviewer_jwt': ''}, 'token_reviewer_jwt is required'),
    ({'token_reviewer_jwt': 'abc'}, 'is not a JWT'),
    ({'policies': [{'name': 'root', 'rules': 'x'}]}, "policy name 'root'"),
    ({'policies': [{'name': 'k8s-x', 'rules': '  '}]}, 'policy k8s-x has no rules'),
    ({'roles': [{'name': 'o', 'service_accounts': ['*'], 'namespaces': ['o'], 'policies': []}]}, 'binds "*"'),
    ({'roles': [{'name': 'o', 'service_accounts': [], 'namespaces': ['o'], 'policies': []}]}, 'at least one'),
    ({'kv_secrets': [{'path': 'default/x', 'data': {'K': ''}}]}, 'has no value for K'),
    ({'kv_secrets': [{'path': '../x', 'data': {'K': 'v'}}]}, 'is not valid'),
    ({'mount': 'bad path'}, 'not a valid Vault path'),
])
def test_validate_refuses(extra, message):
    with pytest.raises(vault.InvalidInput, match=message.replace('(', r'\(').replace('"', '"').replace('*', r'\*')):
        vault.validate(spec(**extra))


def test_validate_absent_needs_no_kubernetes_inputs():
    vault.validate(spec(state='absent', kubernetes_host=None, kubernetes_ca_cert=None, token_reviewer_jwt=None,
                        kv_secrets=[{'path': 'default/x', 'data': {}}]))


class Recorded:
    """A transport answering from a dict: (method, path) -> (status, body)."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, method, url, body, headers):
        path = url.split('/v1/', 1)[1]
        self.calls.append((method, path))
        status, answer = self.answers.get((method, path), (404, {'errors': []}))
        return status, json.dumps(answer) if answer is not None else ''


def test_plan_on_an_empty_vault_creates_everything_and_reads_only():
    transport = Recorded({('GET', 'auth/token/lookup-self'): (200, {'data': {}}),
                          ('GET', 'sys/mounts'): (200, {'data': {'nomad/': {'type': 'kv', 'options': {'version': '2'}}}}),
                          ('GET', 'sys/auth'): (200, {'data': {'jwt-nomad/': {'type': 'jwt'}}})})
    steps = vault.plan_present(vault.Client('http://v', 't', transport), spec())
    assert vault.describe(steps) == ['create auth mount kubernetes/ (kubernetes)', 'create auth/kubernetes/config',
                                     'create policy k8s-overseerr', 'create role kubernetes/overseerr',
                                     'create secret nomad/default/overseerr-k8s',
                                     'create marker on secret nomad/default/overseerr-k8s']
    assert steps[2]['data']['policy'].startswith('# managed by brmartin.k3s_migration\n')
    assert steps[5]['data'] == {'custom_metadata': {'managed-by': 'brmartin.k3s_migration'}}
    assert all(method == 'GET' for method, _path in transport.calls)
    assert JWT not in json.dumps(vault.diff(steps)) and "'v'" not in json.dumps(vault.diff(steps))


def test_plan_refuses_a_mount_taken_by_another_method_and_denied_token():
    transport = Recorded({('GET', 'auth/token/lookup-self'): (200, {'data': {}}),
                          ('GET', 'sys/mounts'): (200, {'data': {'nomad/': {'type': 'kv', 'options': {'version': '2'}}}}),
                          ('GET', 'sys/auth'): (200, {'data': {'kubernetes/': {'type': 'jwt'}}})})
    with pytest.raises(vault.InvalidInput, match='taken by a jwt auth method'):
        vault.plan_present(vault.Client('http://v', 't', transport), spec())
    denied = Recorded({('GET', 'auth/token/lookup-self'): (403, {'errors': ['permission denied']})})
    with pytest.raises(vault.VaultDenied, match='permission denied'):
        vault.plan_present(vault.Client('http://v', 't', denied), spec())


_BASE = {('GET', 'auth/token/lookup-self'): (200, {'data': {}}),
         ('GET', 'sys/mounts'): (200, {'data': {'nomad/': {'type': 'kv', 'options': {'version': '2'}}}}),
         ('GET', 'sys/auth'): (200, {'data': {'kubernetes/': {'type': 'kubernetes', 'description': 'the operator\'s'}}})}


@pytest.mark.parametrize('state', ['present', 'absent'])
@pytest.mark.parametrize('planted, message', [
    ({('GET', 'sys/policies/acl/k8s-overseerr'): (200, {'data': {'policy': 'path "x" {}'}})},
     'policy k8s-overseerr exists and was not made by this collection'),
    ({('GET', 'nomad/metadata/default/overseerr-k8s'): (200, {'data': {'custom_metadata': None}})},
     'KV path nomad/default/overseerr-k8s exists and was not made by this collection'),
    ({('GET', 'auth/kubernetes/role/overseerr'): (200, {'data': {'token_policies': ['nomad-workloads']}}),
      ('GET', 'sys/policies/acl/nomad-workloads'): (200, {'data': {'policy': 'path "y" {}'}})},
     'role kubernetes/overseerr exists in a mount this collection did not make'),
])
def test_objects_without_our_marker_are_refused(state, planted, message):
    transport = Recorded({**_BASE, **planted})
    plan = vault.plan_present if state == 'present' else vault.plan_absent
    with pytest.raises(vault.NotOurs, match=message):
        plan(vault.Client('http://v', 't', transport), spec(state=state, remove_kv_secrets=True))
    assert all(method == 'GET' for method, _path in transport.calls)


def test_marked_objects_are_ours_and_a_rerun_plans_nothing():
    rules = spec()['policies'][0]['rules']
    transport = Recorded({**_BASE, **{
        ('GET', 'auth/kubernetes/config'): (200, {'data': dict(vault._config_body(spec()), token_reviewer_jwt_set=True)}),
        ('GET', 'sys/policies/acl/k8s-overseerr'): (200, {'data': {'policy': vault.policy_text(rules)}}),
        ('GET', 'auth/kubernetes/role/overseerr'): (200, {'data': vault._role_body(spec()['roles'][0])}),
        ('GET', 'nomad/metadata/default/overseerr-k8s'): (
            200, {'data': {'custom_metadata': {'managed-by': 'brmartin.k3s_migration'}}}),
        ('GET', 'nomad/data/default/overseerr-k8s'): (200, {'data': {'data': {'K': 'v'}}}),
    }})
    assert vault.plan_present(vault.Client('http://v', 't', transport), spec()) == []
    absent = vault.plan_absent(vault.Client('http://v', 't', transport), spec(state='absent', remove_kv_secrets=True))
    assert vault.describe(absent) == ['delete role kubernetes/overseerr', 'delete policy k8s-overseerr',
                                      'delete secret nomad/default/overseerr-k8s (all versions)']
