# SPDX-License-Identifier: GPL-3.0-or-later
"""STAND-IN for the Kubernetes API server's TokenReview endpoint - tests only.

K3s cannot run on the test machine. Vault's (OpenBao's) Kubernetes auth method calls
exactly one Kubernetes API when a workload logs in, and this serves only that contract
(``authentication.k8s.io/v1``, documented in the Kubernetes API reference, "TokenReview"):

- ``POST /apis/authentication.k8s.io/v1/tokenreviews`` over HTTPS, with the caller's
  credentials in ``Authorization: Bearer <token reviewer JWT>``. The reviewer must be
  the one service account bound to ``system:auth-delegator`` (here: the configured
  reviewer token); anyone else gets ``403`` with a ``Status`` body, as the API server
  answers a caller without ``tokenreviews/create``.
- Body ``{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
  "spec": {"token": "<JWT>", "audiences": [...]}}``. Answer ``201`` with the same object
  and ``status``: ``authenticated: true`` and ``user`` (``username``
  ``system:serviceaccount:<namespace>:<name>``, ``uid``, ``groups``) for a token issued
  to a known service account, ``authenticated: false`` with an ``error`` otherwise.

Every review is appended to ``reviews`` so a test can see Vault really asked.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = '/apis/authentication.k8s.io/v1/tokenreviews'


class TokenReviewServer:
    def __init__(self, cert: str, key: str, reviewer_token: str):
        self.reviewer_token = reviewer_token
        self.accounts = {}  # JWT -> (namespace, name, uid)
        self.reviews = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                return

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get('Content-Length') or 0)
                request = json.loads(self.rfile.read(length) or b'{}')
                if self.path.split('?')[0] != PATH:
                    self._send(404, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure',
                                     'reason': 'NotFound', 'code': 404})
                    return
                caller = self.headers.get('Authorization', '')
                if caller != 'Bearer %s' % server.reviewer_token:
                    self._send(403, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure',
                                     'reason': 'Forbidden', 'code': 403,
                                     'message': 'tokenreviews.authentication.k8s.io is forbidden'})
                    return
                token = (request.get('spec') or {}).get('token', '')
                server.reviews.append(token)
                account = server.accounts.get(token)
                response = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'TokenReview',
                            'metadata': {'creationTimestamp': None}, 'spec': request.get('spec', {})}
                if account:
                    namespace, name, uid = account
                    response['status'] = {'authenticated': True, 'audiences': request.get('spec', {}).get('audiences'),
                                          'user': {'username': 'system:serviceaccount:%s:%s' % (namespace, name),
                                                   'uid': uid,
                                                   'groups': ['system:serviceaccounts',
                                                              'system:serviceaccounts:%s' % namespace,
                                                              'system:authenticated']}}
                else:
                    response['status'] = {'authenticated': False, 'error': 'invalid bearer token'}
                self._send(201, response)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = 'https://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add_account(self, token: str, namespace: str, name: str, uid: str) -> None:
        self.accounts[token] = (namespace, name, uid)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
