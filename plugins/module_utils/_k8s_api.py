# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small Kubernetes API client on the standard library, for the modules that send a few
requests per run: importing the kubernetes Python client (and its discovery) costs more
than those requests (~0.5 s a module run on the controller).

It reads a kubeconfig (the current context's cluster and user: CA, client certificate and
key, or a bearer token; inline C(*-data) or files) and keeps one HTTPS connection for all
the requests of a run. Only JSON is sent and read.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from urllib.parse import urlsplit

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _http


class K8sError(Exception):
    """The kubeconfig is unusable or the API could not be reached."""


class ApiError(K8sError):
    """The API answered with an error status; ``status`` and ``reason`` are its, ``message`` the Status's."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str = ''):
        super().__init__('%s %s: HTTP %d %s%s' % (method, path, status, reason, (': ' + message) if message else ''))
        self.status, self.reason, self.message = status, reason, message


def _load_yaml(text: str):
    try:
        import yaml  # pylint: disable=import-outside-toplevel  # PyYAML comes with ansible-core
    except ImportError:  # pragma: no cover - ansible-core requires PyYAML on the controller
        return json.loads(text)
    return yaml.safe_load(text)


def _named(items, name: str, what: str) -> dict:
    for item in items or []:
        if item.get('name') == name:
            return item.get(what) or {}
    raise K8sError('the kubeconfig has no %s named %r' % (what, name))


def _data(section: dict, key: str, base: str) -> bytes | None:
    """The bytes of ``key-data`` (base64) or of the file ``key`` (relative to the kubeconfig)."""
    if section.get(key + '-data'):
        return base64.b64decode(section[key + '-data'])
    if section.get(key):
        with open(os.path.join(base, section[key]), 'rb') as handle:
            return handle.read()
    return None


def read_kubeconfig(path: str) -> dict:
    """server, ca (bytes or None), cert and key (bytes or None), token, insecure - of the current context."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            config = _load_yaml(handle.read()) or {}
    except (IOError, OSError, ValueError) as exc:
        raise K8sError('cannot read the kubeconfig %s: %s' % (path, exc)) from exc
    except Exception as exc:  # pylint: disable=broad-except  # yaml's errors have their own classes
        raise K8sError('the kubeconfig %s is not YAML: %s' % (path, exc)) from exc
    if not isinstance(config, dict):
        raise K8sError('the kubeconfig %s is not a mapping' % path)
    base = os.path.dirname(os.path.abspath(path))
    contexts = config.get('contexts') or []
    name = config.get('current-context') or (contexts[0].get('name') if len(contexts) == 1 else '')
    if name:
        context = _named(contexts, name, 'context')
        cluster = _named(config.get('clusters'), context.get('cluster', ''), 'cluster')
        user = _named(config.get('users'), context.get('user', ''), 'user') if context.get('user') else {}
    else:
        clusters = config.get('clusters') or []
        if not clusters:
            raise K8sError('the kubeconfig %s names no cluster' % path)
        if len(clusters) != 1:
            raise K8sError('the kubeconfig %s has no current-context to choose among %d clusters' % (path, len(clusters)))
        cluster, users = clusters[0].get('cluster') or {}, config.get('users') or []
        user = (users[0].get('user') or {}) if len(users) == 1 else {}
    if not cluster.get('server'):
        raise K8sError('the kubeconfig %s names no server' % path)
    try:
        token = user.get('token') or ''
        if not token and user.get('tokenFile'):
            with open(os.path.join(base, user['tokenFile']), 'r', encoding='utf-8') as handle:
                token = handle.read().strip()
        return {'server': cluster['server'].rstrip('/'), 'ca': _data(cluster, 'certificate-authority', base),
                'cert': _data(user, 'client-certificate', base), 'key': _data(user, 'client-key', base),
                'token': token, 'insecure': bool(cluster.get('insecure-skip-tls-verify'))}
    except (IOError, OSError, ValueError) as exc:
        raise K8sError('the kubeconfig %s points at a file or data that cannot be read: %s' % (path, exc)) from exc


def _context(settings: dict) -> ssl.SSLContext:
    context = _http.tls_context(not settings['insecure'],
                                cadata=settings['ca'].decode('ascii', 'replace') if settings['ca'] else None)
    if settings['cert'] and settings['key']:
        # load_cert_chain reads files only: a private directory, removed at once.
        with tempfile.TemporaryDirectory(prefix='k8s-api-') as tmp:
            cert, key = os.path.join(tmp, 'cert.pem'), os.path.join(tmp, 'key.pem')
            for where, data in ((cert, settings['cert']), (key, settings['key'])):
                with open(os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'wb') as handle:
                    handle.write(data)
            context.load_cert_chain(cert, key)
    return context


class Api:
    """Requests to one cluster over one kept-alive HTTPS connection."""

    def __init__(self, kubeconfig: str, timeout: float = 30):
        self.settings = read_kubeconfig(kubeconfig)
        url = urlsplit(self.settings['server'])
        if url.scheme != 'https':
            raise K8sError('the kubeconfig %s: the server %s is not https' % (kubeconfig, self.settings['server']))
        try:
            self._ssl = _context(self.settings)
        except (ssl.SSLError, ValueError) as exc:
            raise K8sError('the kubeconfig %s: its CA or client certificate cannot be used: %s' % (kubeconfig, exc)) from exc
        self._conn = _http.KeptConnection(self.settings['server'], self._ssl, timeout)
        self._discovered = {}

    def call(self, method: str, path: str, body=None, content_type: str = 'application/json', query: str = ''):
        """The decoded JSON answer; None for a GET or DELETE of something that is not there (404)."""
        headers = {'Accept': 'application/json'}
        if self.settings['token']:
            headers['Authorization'] = 'Bearer ' + self.settings['token']
        payload = None
        if body is not None:
            payload = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = content_type
        try:
            status, reason, text = self._conn.request(method, path + (('?' + query) if query else ''), payload, headers)
        except _http.ConnectionFailed as exc:
            raise K8sError('%s %s%s: %s' % (method, self.settings['server'], path, exc)) from exc
        if status == 404 and method in ('GET', 'DELETE'):
            return None
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {'message': text[:200].decode('utf-8', 'replace')}
        if status >= 400:
            message = answer.get('message', '') if isinstance(answer, dict) else ''
            raise ApiError(method, path, status, reason, message)
        return answer

    def apply(self, path: str, obj: dict, field_manager: str, force: bool = True, dry_run: bool = False):
        """Server-side apply of ``obj`` at its own ``path`` (JSON is YAML, so apply-patch+yaml takes it)."""
        query = 'fieldManager=%s&force=%s' % (field_manager, 'true' if force else 'false')
        if dry_run:
            query += '&dryRun=All'
        return self.call('PATCH', path, body=obj, content_type='application/apply-patch+yaml', query=query)

    def resource(self, api_version: str, kind: str) -> tuple:
        """(plural, namespaced) of ``kind`` in ``api_version``, from the group version's discovery (asked once)."""
        if api_version not in self._discovered:
            prefix = '/api/' + api_version if '/' not in api_version else '/apis/' + api_version
            listing = self.call('GET', prefix)
            if listing is None:
                raise K8sError('the API serves no %s (GET %s: 404)' % (api_version, prefix))
            self._discovered[api_version] = dict(
                (r['kind'], (r['name'], bool(r.get('namespaced'))))
                for r in listing.get('resources') or [] if '/' not in r.get('name', '/'))
        found = self._discovered[api_version].get(kind)
        if found is None:
            raise K8sError('the API serves no kind %s in %s' % (kind, api_version))
        return found

    def object_path(self, obj: dict) -> tuple:
        """(API path, C(Kind/namespace/name) or C(Kind/name)) of an object given as a manifest."""
        api_version, kind, meta = obj['apiVersion'], obj['kind'], obj.get('metadata') or {}
        plural, namespaced = self.resource(api_version, kind)
        prefix = '/api/' + api_version if '/' not in api_version else '/apis/' + api_version
        name, namespace = meta['name'], meta.get('namespace') or ''
        if namespaced and not namespace:
            raise K8sError('%s %s is namespaced: give its metadata.namespace' % (kind, name))
        if not namespaced and namespace:
            raise K8sError('%s %s is cluster-scoped: it takes no metadata.namespace' % (kind, name))
        if namespaced:
            return '%s/namespaces/%s/%s/%s' % (prefix, namespace, plural, name), '%s/%s/%s' % (kind, namespace, name)
        return '%s/%s/%s' % (prefix, plural, name), '%s/%s' % (kind, name)

    def close(self):
        self._conn.close()
