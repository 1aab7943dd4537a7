# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/_k8s_api.py over real TLS (client certificates, a bearer token), and
k8s_stage_marker through it.

The API server here is a few endpoints of the Kubernetes REST API (ConfigMaps, one kind
of workload list, server-side apply's PATCH) served on loopback with a CA made on the fly:
what is checked is the client's side of the contract - the kubeconfig read, the TLS and
authentication it presents, the paths, methods and content types it sends, and how it
reads answers and errors. The lab runs the same modules against real K3s.
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import sys
import threading
from pathlib import Path

import pytest
import yaml

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k8s_api as k8s_api

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pki import CA  # noqa: E402  pylint: disable=wrong-import-position
from modrun import run_module  # noqa: E402  pylint: disable=wrong-import-position

TOKEN = 'test-bearer-token'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *_args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        server = self.server
        length = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        peer = self.connection.getpeercert() or {}
        who = dict(x[0] for x in peer.get('subject', ())).get('commonName', '')
        if not who and self.headers.get('Authorization') != 'Bearer ' + TOKEN:
            return self._answer(401, {'kind': 'Status', 'message': 'Unauthorized', 'code': 401})
        path, _sep, query = self.path.partition('?')
        server.requests.append({'method': self.command, 'path': path, 'query': query, 'who': who or 'token',
                                'type': self.headers.get('Content-Type', ''), 'body': body})
        if path.startswith('/apis/apps/v1/'):
            return self._answer(200, {'kind': 'List', 'items': []})
        if path == '/api/v1':
            return self._answer(200, {'kind': 'APIResourceList', 'resources': [
                {'name': 'configmaps', 'kind': 'ConfigMap', 'namespaced': True},
                {'name': 'configmaps/status', 'kind': 'ConfigMap', 'namespaced': True},
                {'name': 'namespaces', 'kind': 'Namespace', 'namespaced': False}]})
        if path == '/api/v1/namespaces/kube-system':
            return self._answer(200, {'kind': 'Namespace', 'metadata': {'name': 'kube-system', 'uid': 'ns-uid',
                                                                        'resourceVersion': '1'}})
        parts = path.split('/')
        if path.startswith('/api/v1/namespaces/') and len(parts) >= 6 and parts[5] == 'configmaps':
            namespace, name = parts[4], (parts[6] if len(parts) > 6 else (body or {}).get('metadata', {}).get('name'))
            stored = server.objects.get((namespace, name))
            if self.command == 'GET':
                return self._answer(200, stored) if stored else self._answer(404, {'kind': 'Status', 'code': 404})
            if self.command == 'DELETE':
                server.objects.pop((namespace, name), None)
                return self._answer(200 if stored else 404, {'kind': 'Status'})
            if self.command in ('POST', 'PUT', 'PATCH'):
                if namespace == 'nope':
                    return self._answer(404, {'kind': 'Status', 'message': 'namespaces "nope" not found'})
                if self.command == 'PATCH' and self.headers.get('Content-Type') != 'application/apply-patch+yaml':
                    return self._answer(415, {'kind': 'Status', 'message': 'unsupported patch type'})
                if stored and self.command == 'PATCH':  # apply: fields merged into what is there
                    obj = dict(stored, **{k: v for k, v in body.items() if k != 'metadata'})
                    same = {k: v for k, v in obj.items() if k != 'metadata'} == \
                        {k: v for k, v in stored.items() if k != 'metadata'}
                    obj['metadata'] = dict(stored['metadata'], resourceVersion=stored['metadata']['resourceVersion']
                                           if same else str(len(server.requests)))
                else:
                    obj = dict(body, metadata=dict(body['metadata'], uid='uid-' + name,
                                                   resourceVersion=str(len(server.requests))))
                if 'dryRun=All' not in query:
                    server.objects[(namespace, name)] = obj
                return self._answer(201 if stored is None else 200, obj)
        return self._answer(403, {'kind': 'Status', 'message': 'forbidden: %s %s' % (self.command, path), 'code': 403})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture(scope='module')
def api_server(tmp_path_factory):
    work = tmp_path_factory.mktemp('k8s-api')
    ca = CA('test-cluster-ca')
    server_cert, server_key = ca.write(work, 'server', 'kube-apiserver', ['127.0.0.1', 'localhost'])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert, server_key)
    context.load_verify_locations(cadata=ca.pem)
    context.verify_mode = ssl.CERT_OPTIONAL
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.requests, httpd.objects = [], {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    cert, key = ca.issue('system:admin', ['admin'], client=True)
    url = 'https://127.0.0.1:%d' % httpd.server_address[1]
    yield {'url': url, 'ca': ca, 'cert': cert, 'key': key, 'httpd': httpd, 'work': work}
    httpd.shutdown()


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def kubeconfig(api_server, path, **user):
    user = user or {'client-certificate-data': _b64(api_server['cert']), 'client-key-data': _b64(api_server['key'])}
    path.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'default',
        'clusters': [{'name': 'default', 'cluster': {'server': api_server['url'],
                                                     'certificate-authority-data': _b64(api_server['ca'].pem)}}],
        'contexts': [{'name': 'default', 'context': {'cluster': 'default', 'user': 'default'}}],
        'users': [{'name': 'default', 'user': user}]}))
    return str(path)


def test_client_certificate_one_connection_and_apply(api_server, tmp_path):
    api = k8s_api.Api(kubeconfig(api_server, tmp_path / 'kubeconfig'))
    path = '/api/v1/namespaces/kube-system/configmaps/probe'
    assert api.call('GET', path) is None
    body = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'probe', 'namespace': 'kube-system'},
            'data': {'a': '1'}}
    assert api.apply(path, body, 'brmartin.k3s_migration', dry_run=True)['metadata']['uid'] == 'uid-probe'
    assert api.call('GET', path) is None  # a dry run stored nothing
    applied = api.apply(path, body, 'brmartin.k3s_migration')
    assert api.call('GET', path)['data'] == {'a': '1'} and applied['metadata']['uid'] == 'uid-probe'
    sent = api_server['httpd'].requests[-5:]
    assert [r['who'] for r in sent] == ['system:admin'] * 5
    assert sent[1]['type'] == 'application/apply-patch+yaml'
    assert sent[1]['query'] == 'fieldManager=brmartin.k3s_migration&force=true&dryRun=All'
    assert sent[3]['query'] == 'fieldManager=brmartin.k3s_migration&force=true'
    # the client's key and certificate were written to a private directory and removed
    assert not list(Path(api_server['work']).glob('k8s-api-*'))
    api.close()


def test_bearer_token_and_errors(api_server, tmp_path):
    api = k8s_api.Api(kubeconfig(api_server, tmp_path / 'token', token=TOKEN))
    assert api.call('GET', '/apis/apps/v1/namespaces/x/deployments') == {'kind': 'List', 'items': []}
    assert api_server['httpd'].requests[-1]['who'] == 'token'
    with pytest.raises(k8s_api.ApiError) as err:
        api.call('GET', '/api/v1/nodes')
    assert err.value.status == 403 and 'forbidden: GET /api/v1/nodes' in str(err.value)
    bad = k8s_api.Api(kubeconfig(api_server, tmp_path / 'bad', token='wrong'))
    with pytest.raises(k8s_api.ApiError) as err:
        bad.call('GET', '/api/v1/namespaces/x/configmaps/y')
    assert err.value.status == 401


@pytest.mark.parametrize('content, message', [
    ('', 'names no cluster'),
    ('clusters: [{name: a, cluster: {}}]', 'names no server'),
    ('clusters: [{name: a, cluster: {server: "https://x"}}, {name: b, cluster: {server: "https://y"}}]',
     'no current-context to choose among 2 clusters'),
    ('current-context: c\ncontexts: [{name: c, context: {cluster: gone}}]\nclusters: []', "no cluster named 'gone'"),
    ('clusters: [{name: a, cluster: {server: "http://127.0.0.1:1"}}]', 'is not https'),
    (': : :', 'is not YAML'),
])
def test_unusable_kubeconfigs_are_named(tmp_path, content, message):
    path = tmp_path / 'kubeconfig'
    path.write_text(content)
    with pytest.raises(k8s_api.K8sError) as err:
        k8s_api.Api(str(path))
    assert message in str(err.value)


def test_unreachable_api_is_a_k8s_error(api_server, tmp_path):
    path = tmp_path / 'kubeconfig'
    kubeconfig(api_server, path)
    path.write_text(path.read_text().replace(api_server['url'], 'https://127.0.0.1:1'))
    with pytest.raises(k8s_api.K8sError) as err:
        k8s_api.Api(str(path)).call('GET', '/version')
    assert 'GET https://127.0.0.1:1/version' in str(err.value)


def test_stage_marker_records_and_finds_its_record(api_server, tmp_path):
    args = {'kubeconfig': kubeconfig(api_server, tmp_path / 'kubeconfig'), 'name': 'stage-probe',
            'digest': 'd1', 'namespaces': ['apps']}
    rc, result = run_module('k8s_stage_marker', args, tmp_path)
    assert rc == 0 and not result['current'] and not result['changed'], result
    rc, result = run_module('k8s_stage_marker', dict(args, state='present'), tmp_path, check_mode=True)
    assert rc == 0 and result['changed'] and ('kube-system', 'stage-probe') not in api_server['httpd'].objects
    rc, result = run_module('k8s_stage_marker', dict(args, state='present'), tmp_path)
    assert rc == 0 and result['changed'] and ('kube-system', 'stage-probe') in api_server['httpd'].objects
    rc, result = run_module('k8s_stage_marker', args, tmp_path)
    assert rc == 0 and result['current'] and result['reasons'] == [], result
    rc, result = run_module('k8s_stage_marker', dict(args, digest='d2'), tmp_path)
    assert rc == 0 and not result['current'] and result['reasons']
    rc, result = run_module('k8s_stage_marker', dict(args, state='absent'), tmp_path)
    assert rc == 0 and result['changed'] and ('kube-system', 'stage-probe') not in api_server['httpd'].objects
    rc, result = run_module('k8s_stage_marker', dict(args, kubeconfig=str(tmp_path / 'none')), tmp_path)
    assert rc != 0 and 'cannot read the kubeconfig' in result['msg']


def test_k8s_apply_creates_then_finds_nothing_to_change(api_server, tmp_path):
    config = kubeconfig(api_server, tmp_path / 'kubeconfig')
    cm = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'applied', 'namespace': 'kube-system'},
          'data': {'k': 'v1'}}
    ns = {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'kube-system'}}
    args = {'kubeconfig': config, 'definitions': [ns, cm]}
    rc, result = run_module('k8s_apply', args, tmp_path, check_mode=True, diff=True)
    assert rc == 0 and result['changed'], result
    assert [a['result'] for a in result['applied']] == ['unchanged', 'created']
    assert ('kube-system', 'applied') not in api_server['httpd'].objects
    rc, result = run_module('k8s_apply', args, tmp_path)
    assert rc == 0 and result['changed'] and result['resources'][1]['metadata']['uid'] == 'uid-applied'
    assert api_server['httpd'].requests[-1]['type'] == 'application/apply-patch+yaml'
    rc, result = run_module('k8s_apply', args, tmp_path)
    assert rc == 0 and not result['changed'], result
    assert result['applied'][1] == {'object': 'ConfigMap/kube-system/applied', 'result': 'unchanged'}
    changed = dict(cm, data={'k': 'v2'})
    rc, result = run_module('k8s_apply', dict(args, definitions=[changed]), tmp_path, check_mode=True, diff=True)
    assert rc == 0 and result['changed'] and result['diff']['after'][0]['data'] == {'k': 'v2'}
    assert api_server['httpd'].objects[('kube-system', 'applied')]['data'] == {'k': 'v1'}
    assert 'dryRun=All' in api_server['httpd'].requests[-1]['query']


@pytest.mark.parametrize('definition, message', [
    ({'kind': 'ConfigMap', 'metadata': {'name': 'x'}}, 'definitions[0] has no apiVersion'),
    ({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {}}, 'definitions[0] (ConfigMap) has no metadata.name'),
    ({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'x'}}, 'is namespaced: give its metadata.namespace'),
    ({'apiVersion': 'v1', 'kind': 'Gadget', 'metadata': {'name': 'x'}}, 'serves no kind Gadget in v1'),
    ({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'x', 'namespace': 'nope'}, 'data': {}},
     'HTTP 404 Not Found: namespaces "nope" not found'),
])
def test_k8s_apply_names_what_is_wrong(api_server, tmp_path, definition, message):
    rc, result = run_module('k8s_apply', {'kubeconfig': kubeconfig(api_server, tmp_path / 'kubeconfig'),
                                          'definitions': [definition]}, tmp_path)
    assert rc != 0 and message in result['msg'], result
