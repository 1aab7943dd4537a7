#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vault_kubernetes_access
short_description: Kubernetes auth for a K3s cluster in Vault or OpenBao - mount, config, policies, roles, KV secrets
version_added: 0.2.0
description:
  - With O(state=present), makes sure a Kubernetes auth method is enabled at O(mount) and
    configured for the K3s API (O(kubernetes_host), O(kubernetes_ca_cert), a token-reviewer
    JWT), that each policy in O(policies) has exactly its rules, that each role in O(roles)
    binds its service accounts and namespaces to its policies, and that each KV v2 secret
    in O(kv_secrets) holds exactly its data.
  - Reads the current state first and writes only what differs, so a re-run reports no
    change. Every input is checked, and the token tried, before the first write.
  - Touches nothing it is not given - other auth mounts (Nomad's JWT mount), policies and
    secrets stay byte-identical.
  - With O(state=absent), removes the auth mount if this module created it (otherwise only
    the named roles in it), the named policies, and the named KV paths when
    O(remove_kv_secrets=true).
  - Ownership - everything it writes carries a marker (the mount in its description, a
    policy in its first line C(# managed by brmartin.k3s_migration), a KV path in its
    custom metadata C(managed-by=brmartin.k3s_migration)); a role is its own when its mount
    is, or when every policy the role hands out is. A same-named object without the marker
    is neither changed nor deleted - the module fails and says what it found.
  - Secret values (the Vault token, the reviewer JWT, KV data) are never returned or logged.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: The planned steps are returned as RV(changes) and nothing is written.
  diff_mode:
    support: full
    description: Each step's object before and after, without secret values.
options:
  vault_addr:
    description: Vault (or OpenBao) address.
    type: str
    required: true
  vault_token:
    description:
      - Token allowed to manage auth mounts, policies and the KV paths (for example the operator's admin token).
    type: str
    required: true
  vault_namespace:
    description: Vault Enterprise namespace (sent as C(X-Vault-Namespace)); not needed for OpenBao or Vault CE.
    type: str
  vault_ca_cert:
    description: CA bundle to verify Vault's TLS certificate (the system store otherwise).
    type: path
  vault_validate_certs:
    description: Whether to verify Vault's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each Vault request.
    type: int
    default: 15
  state:
    description: Wanted state of everything named.
    type: str
    choices: [present, absent]
    default: present
  mount:
    description: Path of the Kubernetes auth method.
    type: str
    default: kubernetes
  kubernetes_host:
    description:
      - The K3s API address Vault calls for TokenReview, C(https://ADDRESS:6443). ADDRESS
        must be in the K3s server's C(tls-san). Required with O(state=present).
    type: str
  kubernetes_ca_cert:
    description:
      - PEM CA bundle of the K3s API server (the kubeconfig's C(certificate-authority-data), decoded).
        Required with O(state=present).
    type: str
  token_reviewer_jwt:
    description:
      - Long-lived JWT of the token-reviewer service account (bound to C(system:auth-delegator)).
        Required with O(state=present).
    type: str
  token_reviewer_jwt_update:
    description:
      - Vault never returns the JWT, so it cannot be compared. V(on_create) writes it when the
        config is written for another reason or holds none; V(always) writes it on every run
        (always reporting a change) - use it after the reviewer token was rotated.
    type: str
    choices: [on_create, always]
    default: on_create
  issuer:
    description: Expected C(iss) of service-account JWTs; left unset, issuer validation stays off (Vault's default).
    type: str
  policies:
    description: ACL policies to manage, by name.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Policy name.
        type: str
        required: true
      rules:
        description: The policy in HCL. Ignored with O(state=absent).
        type: str
        default: ""
  roles:
    description: Roles of the auth method, by name.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      service_accounts:
        description: Service account names bound to the role (no C(*)).
        type: list
        elements: str
        default: []
      namespaces:
        description: Namespaces bound to the role (no C(*)).
        type: list
        elements: str
        default: []
      policies:
        description: Policies of the tokens the role hands out.
        type: list
        elements: str
        default: []
      token_ttl:
        description: Lifetime of those tokens, in seconds.
        type: int
        default: 3600
      audience:
        description: Audience the service-account JWT must carry.
        type: str
  kv_mount:
    description: The KV version 2 mount holding O(kv_secrets). It must exist; it is never created.
    type: str
    default: nomad
  kv_secrets:
    description: KV v2 secrets to manage, by path inside O(kv_mount).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path inside the mount, for example V(default/overseerr-k8s).
        type: str
        required: true
      data:
        description: Key/value pairs the secret holds exactly (values are never logged).
        type: dict
        default: {}
  remove_kv_secrets:
    description: With O(state=absent), delete O(kv_secrets) paths (all versions) too.
    type: bool
    default: false
seealso:
  - module: brmartin.k3s_migration.sqlite_integrity
  - name: Kubernetes auth method (API)
    description: The endpoints this module calls.
    link: https://openbao.org/api-docs/auth/kubernetes/
"""

EXAMPLES = r"""
- name: Kubernetes auth for K3s, and Overseerr's own MinIO credentials
  brmartin.k3s_migration.vault_kubernetes_access:
    vault_addr: https://vault.brmartin.co.uk
    vault_token: "{{ lookup('ansible.builtin.env', 'VAULT_TOKEN') }}"
    mount: kubernetes
    kubernetes_host: https://192.168.1.5:6443
    kubernetes_ca_cert: "{{ k3s_ca_pem }}"
    token_reviewer_jwt: "{{ reviewer_jwt }}"
    policies:
      - name: k8s-overseerr
        rules: |
          path "nomad/data/default/overseerr-k8s" {
            capabilities = ["read"]
          }
    roles:
      - name: overseerr
        service_accounts: [overseerr]
        namespaces: [overseerr]
        policies: [k8s-overseerr]
    kv_mount: nomad
    kv_secrets:
      - path: default/overseerr-k8s
        data:
          MINIO_ACCESS_KEY: "{{ overseerr_k8s_minio_access_key }}"
          MINIO_SECRET_KEY: "{{ overseerr_k8s_minio_secret_key }}"
"""

RETURN = r"""
changes:
  description: What was (or, in check mode, would be) done, one line per object; no secret values.
  returned: always
  type: list
  elements: str
  sample: ["create auth mount kubernetes/ (kubernetes)", "create auth/kubernetes/config", "create policy k8s-overseerr"]
"""

import ssl
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _http
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _vault as vault


def _open_url_transport(params):
    def transport(method, url, body, headers):
        try:
            response = open_url(url, data=body, headers=headers, method=method, timeout=params['timeout'],
                                validate_certs=params['vault_validate_certs'], ca_path=params['vault_ca_cert'])
            return response.getcode(), to_text(response.read())
        except HTTPError as exc:
            return exc.code, to_text(exc.read())
        except (URLError, OSError, ValueError) as exc:
            raise vault.VaultUnreachable('cannot reach Vault at %s: %s' % (params['vault_addr'], exc))
    return transport


def _transport(module):
    """One kept-alive connection (one TLS context) for the run's twenty-odd requests
    (module_utils/_http.py); through a proxy the environment names, ansible's open_url (a
    connection per request)."""
    params = module.params
    if not _http.direct(params['vault_addr']):
        return _open_url_transport(params)
    context = None
    if params['vault_addr'].startswith('https'):
        try:
            context = _http.tls_context(params['vault_validate_certs'], cafile=params['vault_ca_cert'])
        except (ssl.SSLError, OSError) as exc:
            raise vault.VaultUnreachable('cannot use vault_ca_cert %s: %s' % (params['vault_ca_cert'], exc))
    conn = _http.KeptConnection(params['vault_addr'], context, params['timeout'])

    def transport(method, full_url, body, headers):
        target = urlsplit(full_url)
        path = target.path[len(conn.prefix):] + (('?' + target.query) if target.query else '')
        try:
            status, _reason, text = conn.request(method, path, body.encode('utf-8') if body is not None else None, headers)
        except _http.ConnectionFailed as exc:
            raise vault.VaultUnreachable('cannot reach Vault at %s: %s' % (params['vault_addr'], exc))
        if status in (301, 302, 303, 307, 308):
            # a standby that redirects to the active node (request forwarding off): open_url
            # follows redirects, as before
            return _open_url_transport(params)(method, full_url, body, headers)
        return status, to_text(text)
    return transport


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vault_addr=dict(type='str', required=True),
            vault_token=dict(type='str', required=True, no_log=True),
            vault_namespace=dict(type='str'),
            vault_ca_cert=dict(type='path'),
            vault_validate_certs=dict(type='bool', default=True),
            timeout=dict(type='int', default=15),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            mount=dict(type='str', default='kubernetes'),
            kubernetes_host=dict(type='str'),
            kubernetes_ca_cert=dict(type='str'),
            token_reviewer_jwt=dict(type='str', no_log=True),
            token_reviewer_jwt_update=dict(type='str', choices=['on_create', 'always'], default='on_create'),
            issuer=dict(type='str'),
            policies=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                rules=dict(type='str', default=''),
            )),
            roles=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                service_accounts=dict(type='list', elements='str', default=[]),
                namespaces=dict(type='list', elements='str', default=[]),
                policies=dict(type='list', elements='str', default=[]),
                token_ttl=dict(type='int', default=3600, no_log=False),
                audience=dict(type='str'),
            )),
            kv_mount=dict(type='str', default='nomad'),
            kv_secrets=dict(type='list', elements='dict', default=[], no_log=False, options=dict(
                path=dict(type='str', required=True),
                data=dict(type='dict', default={}, no_log=True),
            )),
            remove_kv_secrets=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    spec = dict(module.params)
    try:
        vault.validate(spec)
    except vault.InvalidInput as exc:
        module.fail_json(msg=str(exc), changes=[])
    try:
        client = vault.Client(spec['vault_addr'], spec['vault_token'], _transport(module), spec['vault_namespace'])
        steps = vault.plan_present(client, spec) if spec['state'] == 'present' else vault.plan_absent(client, spec)
    except vault.VaultError as exc:  # unreachable, denied, bad input found on the server, other answers
        module.fail_json(msg=str(exc), changes=[], status=exc.status)
    result = dict(changed=bool(steps), changes=vault.describe(steps))
    if module._diff:
        result['diff'] = vault.diff(steps)
    if steps and not module.check_mode:
        try:
            vault.apply(client, steps)
        except vault.VaultError as exc:
            module.fail_json(msg='applying the plan failed: %s' % exc, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
