# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One kept-alive HTTP(S) connection for the API clients that send a run's requests to one
server (Kubernetes, Nomad, Vault): ansible's open_url builds a TLS context and a connection
per request (about 20 ms each, even for plain HTTP).
"""

from __future__ import annotations

import http.client
import ssl
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass


class ConnectionFailed(Exception):
    """The server could not be reached or the exchange broke off; the text is the cause's."""


def tls_context(validate: bool = True, cafile: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    """A client context verifying against ``cafile``/``cadata`` (else the system store), or
    verifying nothing when ``validate`` is false. Raises ssl.SSLError or OSError."""
    if not validate:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cafile, cadata=cadata)


def direct(url: str) -> bool:
    """Whether a kept connection can serve ``url``: http(s) with a host, and no proxy from
    the environment applying to it (the callers use open_url there)."""
    parts = urlsplit(url)
    return (parts.scheme in ('http', 'https') and bool(parts.hostname)
            and not (parts.scheme in getproxies() and not proxy_bypass(parts.hostname)))


class KeptConnection:
    """Requests to the server of ``url`` over one connection, opened again once when the
    server closed a kept-alive one. Paths are relative to ``url``'s own path."""

    def __init__(self, url: str, context: ssl.SSLContext | None = None, timeout: float = 30):
        parts = urlsplit(url)
        self._https = parts.scheme == 'https'
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self.prefix = parts.path.rstrip('/')
        self._context = context if context is not None or not self._https else tls_context()
        self._timeout = timeout
        self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple:
        """(status, reason, body bytes); raises ConnectionFailed."""
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    if self._https:
                        self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                                                 context=self._context)
                    else:
                        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
                self._conn.request(method, self.prefix + path, body=body, headers=headers or {})
                response = self._conn.getresponse()
                return response.status, response.reason, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise ConnectionFailed(str(exc)) from exc
            except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError is an OSError
                self.close()
                raise ConnectionFailed(str(exc) or exc.__class__.__name__) from exc
        raise ConnectionFailed('no answer')  # not reached

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
