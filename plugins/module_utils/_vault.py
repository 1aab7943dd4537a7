# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Vault (and OpenBao, same API) access for a K3s cluster: plan from what exists, then apply.

``plan_present()`` / ``plan_absent()`` read the server and return the list of steps that
would bring it to the wanted state - nothing is written while planning, so check mode is
the plan itself and every input problem surfaces before the first write. ``apply()``
runs the steps. Steps never carry secret values in what they describe.

Only what is named is touched: one auth mount (created with a marker in its description
so removal can tell it from a mount someone else made), the named policies, the named
roles inside that mount, and the named KV v2 paths. Every other mount, policy and
secret - Nomad's JWT auth mount included - is never read-modified-written.

Ownership: everything written carries the marker - the mount in its description, a
policy in its first line (``# managed by brmartin.k3s_migration``), a KV path in its
custom metadata (``managed-by``). A role is ours when its mount is, or when every policy
it hands out is. A same-named object without the marker is never changed or deleted:
planning stops with NotOurs, saying what it found.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote

MARKER = 'managed by brmartin.k3s_migration'
POLICY_MARKER = '# ' + MARKER
KV_MARKER = ('managed-by', 'brmartin.k3s_migration')
_PEM = re.compile(r'-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----', re.S)
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_PATH = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$')


class VaultError(Exception):
    def __init__(self, msg: str, status: int | None = None):
        super().__init__(msg)
        self.status = status


class VaultUnreachable(VaultError):
    pass


class VaultDenied(VaultError):
    pass


class InvalidInput(VaultError):
    pass


class NotOurs(VaultError):
    """A same-named object exists that this collection did not make."""


def policy_text(rules: str) -> str:
    """The policy as written: the marker line, then the rules."""
    return '%s\n%s\n' % (POLICY_MARKER, rules.strip())


def _policy_ours(text: str | None) -> bool:
    return text is not None and text.lstrip().startswith(POLICY_MARKER)


def _policy(client: Client, name: str):
    current = client.request('GET', 'sys/policies/acl/%s' % name, missing_ok=True)
    return ((current or {}).get('data') or {}).get('policy')


def _not_ours_policy(name: str, text: str) -> NotOurs:
    first = (text.strip().splitlines() or [''])[0][:80]
    return NotOurs('policy %s exists and was not made by this collection (its first line is %r, not %r): '
                   'it is left as it is; give ours another name (the policy prefix), or put the marker '
                   'line first to hand it over' % (name, first, POLICY_MARKER))


def _kv_ours(client: Client, mount: str, path: str):
    """None when the path has no metadata (absent), else whether it carries our marker."""
    meta = client.request('GET', '%s/metadata/%s' % (mount, quote(path)), missing_ok=True)
    if meta is None:
        return None
    custom = ((meta.get('data') or {}).get('custom_metadata')) or {}
    return custom.get(KV_MARKER[0]) == KV_MARKER[1]


def _not_ours_kv(mount: str, path: str) -> NotOurs:
    return NotOurs('KV path %s/%s exists and was not made by this collection (no custom metadata %s=%s): '
                   'it is left as it is; choose another path, or add that metadata to hand it over'
                   % (mount, path, KV_MARKER[0], KV_MARKER[1]))


def _role_ours(client: Client, mount_ours: bool, current: dict, cache: dict) -> bool:
    if mount_ours:
        return True
    names = [p for p in current.get('token_policies') or [] if p != 'default']
    for name in names:
        if name not in cache:
            cache[name] = _policy_ours(_policy(client, name))
    return bool(names) and all(cache[n] for n in names)


def _not_ours_role(mount: str, name: str, current: dict) -> NotOurs:
    return NotOurs('role %s/%s exists in a mount this collection did not make and hands out policies it did not '
                   'make (%s): it is left as it is' % (mount, name, ', '.join(current.get('token_policies') or [])
                                                       or 'none'))


class Client:
    """Minimal JSON client; ``transport(method, url, body, headers)`` returns (status, text)."""

    def __init__(self, addr: str, token: str, transport, namespace: str | None = None):
        self.addr = addr.rstrip('/')
        self.token = token
        self.namespace = namespace
        self.transport = transport

    def request(self, method: str, path: str, data: dict | None = None, missing_ok: bool = False):
        headers = {'X-Vault-Token': self.token, 'Content-Type': 'application/json'}
        if self.namespace:
            headers['X-Vault-Namespace'] = self.namespace
        body = None if data is None else json.dumps(data)
        status, text = self.transport(method, '%s/v1/%s' % (self.addr, path), body, headers)
        if status == 404 and missing_ok:
            return None
        if status in (401, 403):
            raise VaultDenied('Vault refused %s %s (HTTP %d): %s - check the token and its policy'
                              % (method, path, status, _errors(text)), status)
        if status >= 400:
            raise VaultError('Vault answered %s %s with HTTP %d: %s' % (method, path, status, _errors(text)), status)
        return json.loads(text) if text and text.strip() else {}


def _errors(text: str) -> str:
    try:
        return '; '.join(json.loads(text).get('errors') or []) or text.strip()[:200]
    except (ValueError, AttributeError):
        return (text or '').strip()[:200]


def pem_certificates(text: str) -> list:
    """The certificates in a PEM bundle, normalized; raises InvalidInput when there is none."""
    found = []
    for body in _PEM.findall(text or ''):
        try:
            der = base64.b64decode(''.join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput('kubernetes_ca_cert holds a certificate block that is not base64')
        if not der or der[0] != 0x30:
            raise InvalidInput('kubernetes_ca_cert holds a block that is not a DER certificate')
        lines = [base64.b64encode(der).decode()[i:i + 64] for i in range(0, len(base64.b64encode(der)), 64)]
        found.append('-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----' % '\n'.join(lines))
    if not found:
        raise InvalidInput('kubernetes_ca_cert is missing or holds no PEM certificate: give the K3s server CA '
                           '(certificate-authority-data of the kubeconfig)')
    return found


def validate(spec: dict) -> None:
    """Every input problem, before anything is read or written."""
    if not _PATH.match(spec['mount']):
        raise InvalidInput('mount %r is not a valid Vault path' % spec['mount'])
    if spec['state'] == 'present':
        host = spec.get('kubernetes_host') or ''
        if not host.startswith('https://'):
            raise InvalidInput('kubernetes_host must be the K3s API as https://ADDRESS:6443, got %r' % host)
        pem_certificates(spec.get('kubernetes_ca_cert') or '')
        if not spec.get('token_reviewer_jwt'):
            raise InvalidInput('token_reviewer_jwt is required: the long-lived token of the token-reviewer '
                               'service account (see docs/decisions/0004-vault-kubernetes-auth.md)')
        if spec['token_reviewer_jwt'].count('.') != 2:
            raise InvalidInput('token_reviewer_jwt is not a JWT (header.payload.signature)')
    names = [p['name'] for p in spec.get('policies') or []]
    for name in names:
        if not _NAME.match(name) or name in ('root', 'default'):
            raise InvalidInput('policy name %r is not allowed' % name)
    if spec['state'] == 'present':
        for policy in spec.get('policies') or []:
            if not (policy.get('rules') or '').strip():
                raise InvalidInput('policy %s has no rules' % policy['name'])
    for role in spec.get('roles') or []:
        if not _NAME.match(role['name']):
            raise InvalidInput('role name %r is not valid' % role['name'])
        if spec['state'] == 'present':
            if not role.get('service_accounts') or not role.get('namespaces'):
                raise InvalidInput('role %s must bind at least one service account and one namespace' % role['name'])
            if '*' in role['service_accounts'] or '*' in role['namespaces']:
                raise InvalidInput('role %s binds "*": bind the one service account and namespace of the app'
                                   % role['name'])
    for secret in spec.get('kv_secrets') or []:
        if not _PATH.match(secret['path']):
            raise InvalidInput('KV path %r is not valid' % secret['path'])
        if spec['state'] == 'present':
            empty = sorted(k for k, v in (secret.get('data') or {}).items() if v in (None, ''))
            if not secret.get('data') or empty:
                raise InvalidInput('KV secret %s/%s has no value for %s: set it before running'
                                   % (spec['kv_mount'], secret['path'], ', '.join(empty) or 'any key'))


def _role_body(role: dict) -> dict:
    body = {'bound_service_account_names': sorted(role['service_accounts']),
            'bound_service_account_namespaces': sorted(role['namespaces']),
            'token_policies': sorted(role['policies']),
            'token_ttl': int(role.get('token_ttl') or 3600)}
    if role.get('audience'):
        body['audience'] = role['audience']
    return body


def _role_matches(current: dict, wanted: dict) -> bool:
    for key, value in wanted.items():
        have = current.get(key)
        if isinstance(value, list):
            have = sorted(have or [])
        if have != value:
            return False
    return True


def _config_body(spec: dict) -> dict:
    body = {'kubernetes_host': spec['kubernetes_host'],
            'kubernetes_ca_cert': '\n'.join(pem_certificates(spec['kubernetes_ca_cert'])) + '\n',
            'disable_local_ca_jwt': True}
    if spec.get('issuer'):
        body['issuer'] = spec['issuer']
    return body


def _step(action: str, what: str, method: str, path: str, data: dict | None = None, shown: dict | None = None) -> dict:
    return {'action': action, 'what': what, 'method': method, 'path': path, 'data': data,
            'shown': shown if shown is not None else {}}


def _kv_mount(client: Client, mount: str) -> None:
    mounts = client.request('GET', 'sys/mounts')
    mounts = mounts.get('data', mounts)
    entry = mounts.get(mount.strip('/') + '/')
    if not entry:
        raise InvalidInput('KV mount %s does not exist: this role writes into the operator\'s KV v2 mount, '
                           'it does not create one' % mount)
    version = str((entry.get('options') or {}).get('version', '1'))
    if entry.get('type') not in ('kv', 'generic') or version != '2':
        raise InvalidInput('mount %s is %s version %s, not KV version 2' % (mount, entry.get('type'), version))


def _auth_mounts(client: Client) -> dict:
    mounts = client.request('GET', 'sys/auth')
    return mounts.get('data', mounts)


def plan_present(client: Client, spec: dict) -> list:
    client.request('GET', 'auth/token/lookup-self')  # the token works before anything else
    if spec.get('kv_secrets'):
        _kv_mount(client, spec['kv_mount'])
    steps = []
    mount = spec['mount'].strip('/')
    existing = _auth_mounts(client).get(mount + '/')
    if existing and existing.get('type') != 'kubernetes':
        raise InvalidInput('auth path %s/ is taken by a %s auth method; choose another mount'
                           % (mount, existing.get('type')))
    if not existing:
        steps.append(_step('create', 'auth mount %s/ (kubernetes)' % mount, 'POST', 'sys/auth/%s' % mount,
                           {'type': 'kubernetes', 'description': 'K3s service accounts (%s)' % MARKER},
                           {'type': 'kubernetes'}))
        current_config = None
    else:
        current_config = (client.request('GET', 'auth/%s/config' % mount, missing_ok=True) or {}).get('data')

    config = _config_body(spec)
    differs = not current_config or any(
        (current_config.get(k) or '').strip() != v.strip() if isinstance(v, str) else current_config.get(k) != v
        for k, v in config.items())
    jwt_missing = not (current_config or {}).get('token_reviewer_jwt_set')
    if differs or jwt_missing or spec.get('token_reviewer_jwt_update') == 'always':
        body = dict(config, token_reviewer_jwt=spec['token_reviewer_jwt'])
        shown = dict((k, v) for k, v in config.items() if k != 'kubernetes_ca_cert')
        shown['kubernetes_ca_cert'] = '%d certificate(s)' % len(pem_certificates(config['kubernetes_ca_cert']))
        shown['token_reviewer_jwt'] = '(set)'
        steps.append(_step('update' if current_config else 'create', 'auth/%s/config' % mount, 'POST',
                           'auth/%s/config' % mount, body, shown))

    ours_cache = {}
    for policy in spec.get('policies') or []:
        have = _policy(client, policy['name'])
        if have is not None and not _policy_ours(have):
            raise _not_ours_policy(policy['name'], have)
        wanted = policy_text(policy['rules'])
        ours_cache[policy['name']] = True
        if have is None or have.strip() != wanted.strip():
            steps.append(_step('update' if have is not None else 'create', 'policy %s' % policy['name'], 'PUT',
                               'sys/policies/acl/%s' % policy['name'], {'policy': wanted},
                               {'policy': wanted}))

    mount_ours = not existing or MARKER in (existing.get('description') or '')
    for role in spec.get('roles') or []:
        wanted = _role_body(role)
        current = None
        if existing:
            current = (client.request('GET', 'auth/%s/role/%s' % (mount, role['name']), missing_ok=True) or {}).get('data')
        if current and not _role_ours(client, mount_ours, current, ours_cache):
            raise _not_ours_role(mount, role['name'], current)
        if not current or not _role_matches(current, wanted):
            steps.append(_step('update' if current else 'create', 'role %s/%s' % (mount, role['name']), 'POST',
                               'auth/%s/role/%s' % (mount, role['name']), wanted, wanted))

    kv_mount = spec['kv_mount'].strip('/')
    for secret in spec.get('kv_secrets') or []:
        ours = _kv_ours(client, kv_mount, secret['path'])
        if ours is False:
            raise _not_ours_kv(spec['kv_mount'], secret['path'])
        path = '%s/data/%s' % (kv_mount, quote(secret['path']))
        current = client.request('GET', path, missing_ok=True) if ours else None
        have = ((current or {}).get('data') or {}).get('data')
        wanted = dict((str(k), str(v)) for k, v in secret['data'].items())
        if have != wanted:
            steps.append(_step('update' if have is not None else 'create',
                               'secret %s/%s' % (spec['kv_mount'], secret['path']), 'POST', path,
                               {'data': wanted}, {'keys': sorted(wanted)}))
        if ours is None:
            steps.append(_step('create', 'marker on secret %s/%s' % (spec['kv_mount'], secret['path']), 'POST',
                               '%s/metadata/%s' % (kv_mount, quote(secret['path'])),
                               {'custom_metadata': dict([KV_MARKER])}, {'custom_metadata': dict([KV_MARKER])}))
    return steps


def plan_absent(client: Client, spec: dict) -> list:
    client.request('GET', 'auth/token/lookup-self')
    steps = []
    mount = spec['mount'].strip('/')
    existing = _auth_mounts(client).get(mount + '/')
    ours = bool(existing) and existing.get('type') == 'kubernetes' and MARKER in (existing.get('description') or '')
    if ours:
        steps.append(_step('delete', 'auth mount %s/ with its config and roles' % mount, 'DELETE',
                           'sys/auth/%s' % mount))
    elif existing and existing.get('type') == 'kubernetes':
        cache = {}
        for role in spec.get('roles') or []:
            current = (client.request('GET', 'auth/%s/role/%s' % (mount, role['name']), missing_ok=True) or {}).get('data')
            if current:
                if not _role_ours(client, False, current, cache):
                    raise _not_ours_role(mount, role['name'], current)
                steps.append(_step('delete', 'role %s/%s' % (mount, role['name']), 'DELETE',
                                   'auth/%s/role/%s' % (mount, role['name'])))
    for policy in spec.get('policies') or []:
        have = _policy(client, policy['name'])
        if have is not None:
            if not _policy_ours(have):
                raise _not_ours_policy(policy['name'], have)
            steps.append(_step('delete', 'policy %s' % policy['name'], 'DELETE', 'sys/policies/acl/%s' % policy['name']))
    if spec.get('remove_kv_secrets'):
        for secret in spec.get('kv_secrets') or []:
            path = '%s/metadata/%s' % (spec['kv_mount'].strip('/'), quote(secret['path']))
            ours = _kv_ours(client, spec['kv_mount'].strip('/'), secret['path'])
            if ours is False:
                raise _not_ours_kv(spec['kv_mount'], secret['path'])
            if ours:
                steps.append(_step('delete', 'secret %s/%s (all versions)' % (spec['kv_mount'], secret['path']),
                                   'DELETE', path))
    return steps


def apply(client: Client, steps: list) -> list:
    done = []
    for step in steps:
        try:
            client.request(step['method'], step['path'], step['data'])
        except VaultError as exc:
            raise VaultError('%s (after: %s)' % (exc, ', '.join(done) or 'nothing'), exc.status)
        done.append('%s %s' % (step['action'], step['what']))
    return done


def describe(steps: list) -> list:
    return ['%s %s' % (s['action'], s['what']) for s in steps]


def diff(steps: list) -> dict:
    before, after = {}, {}
    for step in steps:
        if step['action'] != 'create':
            before[step['what']] = 'present'
        after[step['what']] = 'absent' if step['action'] == 'delete' else step['shown']
    return {'before': before, 'after': after}
