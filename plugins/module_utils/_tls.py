# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What certificate a TLS endpoint presents for a name, and whether it verifies.

``inspect()`` connects twice at most: once verifying the chain and the hostname (with the
given CA bundle or the system store) and, when that fails, once more without
verification, only to describe the certificate that was presented. Nothing is sent
after the handshake unless ``http_path`` is given: then one ``GET`` for that path, with the
name as ``Host``, is sent over the last connection (HTTP/1.1, no ALPN), and its status,
headers and the start of its body are returned - what the endpoint answers for that name.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False


class NoAnswer(Exception):
    pass


BODY_LIMIT = 1024


def _get(tls: ssl.SSLSocket, host: str, path: str) -> dict:
    tls.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: brmartin.k3s_migration\r\n'
                 'Accept: */*\r\nConnection: close\r\n\r\n' % (path, host)).encode('ascii'))
    response = http.client.HTTPResponse(tls)
    response.begin()
    try:
        body = response.read(BODY_LIMIT)
    except http.client.IncompleteRead as exc:
        body = exc.partial
    return {'path': path, 'status': response.status, 'reason': response.reason,
            'headers': dict((name.lower(), value) for name, value in response.getheaders()),
            'body': body.decode('utf-8', 'replace')}


def _handshake(address: str, port: int, host: str, context: ssl.SSLContext, timeout: float,
               http_path: str | None = None):
    """The peer's certificate (DER) and, with ``http_path``, the answer to one GET."""
    with socket.create_connection((address, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
            return der, (_get(tls, host, http_path) if http_path else None)


def _utc(cert, name: str) -> datetime.datetime:
    value = getattr(cert, name + '_utc', None)  # cryptography >= 42
    if value is None:
        value = getattr(cert, name).replace(tzinfo=datetime.timezone.utc)
    return value


def describe(der: bytes, now: datetime.datetime | None = None) -> dict:
    if not HAS_CRYPTOGRAPHY:
        return {}
    cert = x509.load_der_x509_certificate(der)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in sans.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    not_after, not_before = _utc(cert, 'not_valid_after'), _utc(cert, 'not_valid_before')
    now = now or datetime.datetime.now(datetime.timezone.utc)
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {'subject': cert.subject.rfc4514_string(), 'common_name': common[0].value if common else None,
            'issuer': cert.issuer.rfc4514_string(), 'sans': names,
            'not_before': not_before.strftime('%Y-%m-%dT%H:%M:%SZ'),
            'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
            'days_left': int((not_after - now).total_seconds() // 86400),
            'serial': '%x' % cert.serial_number}


def inspect(host: str, port: int = 443, connect_address: str | None = None, ca_path: str | None = None,
            timeout: float = 10.0, http_path: str | None = None) -> dict:
    address = connect_address or host
    verifying = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    result = {'host': host, 'port': port, 'connect_address': address, 'verified': False, 'verify_error': None}
    try:
        der, answer = _handshake(address, port, host, verifying, timeout, http_path)
        result['verified'] = True
    except ssl.SSLCertVerificationError as exc:
        result['verify_error'] = exc.verify_message or str(exc)
        plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        plain.check_hostname = False
        plain.verify_mode = ssl.CERT_NONE
        try:
            der, answer = _handshake(address, port, host, plain, timeout, http_path)
        except (OSError, ssl.SSLError, http.client.HTTPException) as again:
            raise NoAnswer('nothing answers TLS on %s:%d for %s: %s' % (address, port, host, again))
    except ssl.SSLError as exc:
        raise NoAnswer('TLS handshake with %s:%d for %s failed: %s' % (address, port, host, exc))
    except http.client.HTTPException as exc:
        raise NoAnswer('%s:%d did not answer GET %s for %s with HTTP: %r' % (address, port, http_path, host, exc))
    except (OSError, socket.timeout) as exc:
        raise NoAnswer('nothing answers on %s:%d (for %s): %s' % (address, port, host, exc))
    result.update(describe(der))
    if http_path:
        result['http'] = answer
    return result
