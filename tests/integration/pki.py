# SPDX-License-Identifier: GPL-3.0-or-later
"""Test certificates and service-account JWTs, made on the fly with ``cryptography``.

Nothing here is used by the collection itself: it makes the certificate authorities,
server certificates and signed JWTs the integration tests hand to real OpenBao and
Traefik.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CA:
    def __init__(self, common_name: str, days: int = 30):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name(common_name)).issuer_name(_name(common_name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=days))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, names: list, days: int = 30, client: bool = False) -> tuple:
        """(cert PEM, key PEM) for a server answering to DNS names and IP addresses (``client``: a client's)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(common_name)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                                      else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return (cert.public_bytes(serialization.Encoding.PEM).decode(),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())

    def write(self, directory: Path, stem: str, common_name: str, names: list, days: int = 30) -> tuple:
        cert, key = self.issue(common_name, names, days)
        cert_path, key_path = directory / ('%s.crt' % stem), directory / ('%s.key' % stem)
        cert_path.write_text(cert)
        key_path.write_text(key)
        key_path.chmod(0o600)
        return cert_path, key_path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


class ServiceAccountIssuer:
    """Signs service-account JWTs shaped like the ones K3s issues (RS256, kubernetes.io claims)."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, namespace: str, name: str, uid: str | None = None, legacy: bool = False) -> tuple:
        """(JWT, uid). ``legacy``: the long-lived Secret token format; otherwise a projected token."""
        uid = uid or str(uuid.uuid4())
        now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
        if legacy:
            claims = {'iss': 'kubernetes/serviceaccount',
                      'kubernetes.io/serviceaccount/namespace': namespace,
                      'kubernetes.io/serviceaccount/secret.name': '%s-token' % name,
                      'kubernetes.io/serviceaccount/service-account.name': name,
                      'kubernetes.io/serviceaccount/service-account.uid': uid,
                      'sub': 'system:serviceaccount:%s:%s' % (namespace, name)}
        else:
            claims = {'aud': ['https://kubernetes.default.svc.cluster.local', 'k3s'],
                      'exp': now + 3600, 'iat': now, 'nbf': now,
                      'iss': 'https://kubernetes.default.svc.cluster.local',
                      'kubernetes.io': {'namespace': namespace, 'serviceaccount': {'name': name, 'uid': uid}},
                      'sub': 'system:serviceaccount:%s:%s' % (namespace, name)}
        header = {'alg': 'RS256', 'kid': 'test', 'typ': 'JWT'}
        signing_input = '%s.%s' % (_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return '%s.%s' % (signing_input, _b64(signature)), uid
