#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_endpoint_info
short_description: Which certificate a TLS endpoint presents for a hostname, and whether chain and name verify
version_added: 0.2.0
description:
  - Connects to O(connect_address) (or O(host)) on O(port), sends O(host) as SNI, and
    verifies the certificate chain and hostname against O(ca_path) or the system store.
  - Returns whether it verified, the verification error otherwise, and the certificate's
    subject, SANs, issuer and expiry (details need the C(cryptography) Python library on
    the host running the module).
  - With O(http_path), sends one C(GET) for that path with O(host) as C(Host) after the
    handshake and returns the answer (status, headers, the start of the body) - for
    example to see whether the edge routes a hostname to the K3s entry point.
  - Fails when nothing answers; when asked, fails on an unverified certificate
    (O(fail_on_unverified)) or one expiring within O(min_days_valid) days.
  - With O(hosts) instead of O(host), asks the same endpoint for each name in turn, in
    one call, and returns each answer in RV(endpoints) - an endpoint that does not answer
    is an C(error) there, not a failure; the checks of O(fail_on_unverified) and
    O(min_days_valid) fail the call when any name fails them.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: The module only connects and reads.
  diff_mode:
    support: none
    description: Nothing is changed.
options:
  host:
    description: The name to verify, sent as SNI. One of O(host) and O(hosts) is required.
    type: str
  hosts:
    description:
      - Names to verify one after the other (each sent as SNI, and as C(Host) with
        O(http_path)), instead of O(host); see RV(endpoints).
    type: list
    elements: str
  expect_header:
    description:
      - With O(http_path), a response header (any case) whose value O(expect_value) the answer
        should carry; each name is asked again, up to O(attempts) times O(delay) seconds apart,
        until its answer does (or its last answer is returned). For example the header an
        entry point adds, seen through an edge that balances over several backends.
    type: str
  expect_value:
    description: The value of O(expect_header) to wait for. Required with O(expect_header).
    type: str
  attempts:
    description: How many times to ask each name for O(expect_header) (a name that does not answer counts too).
    type: int
    default: 1
  delay:
    description: Seconds between the attempts.
    type: int
    default: 1
  port:
    description: TCP port.
    type: int
    default: 443
  connect_address:
    description: Dial this address instead of resolving O(host) (for example the edge's IP before DNS points at it).
    type: str
  ca_path:
    description: CA bundle to verify against; the system store otherwise.
    type: path
  fail_on_unverified:
    description: Fail when the chain or the hostname does not verify.
    type: bool
    default: false
  min_days_valid:
    description: Fail when the certificate expires in fewer days than this (0 disables).
    type: int
    default: 0
  timeout:
    description: Seconds to wait for the connection and handshake.
    type: int
    default: 10
  http_path:
    description:
      - Path of one C(GET) request sent after the handshake (HTTP/1.1, C(Host) is O(host)).
        Sent over the verified connection, or over an unverified one when verification
        failed (the result says which in RV(verified)).
      - Must start with C(/).
    type: str
requirements:
  - cryptography (for the certificate details; verification works without it)
seealso:
  - module: brmartin.k3s_migration.traefik_file_routes
"""

EXAMPLES = r"""
- name: Ask the edge for both hostnames' hop path in one call
  brmartin.k3s_migration.tls_endpoint_info:
    hosts: [whoami-k8s.brmartin.co.uk, overseerr-k8s.brmartin.co.uk]
    connect_address: 127.0.0.1
    http_path: /.well-known/k3s-migration-hop
  register: hops

- name: Which side answers whoami-k8s behind the edge (the K3s entry point adds a header)
  brmartin.k3s_migration.tls_endpoint_info:
    host: whoami-k8s.brmartin.co.uk
    connect_address: 127.0.0.1
    http_path: /.well-known/k3s-migration-hop
  register: whoami_hop

- name: whoami on K3s answers through the edge with the real wildcard certificate
  brmartin.k3s_migration.tls_endpoint_info:
    host: whoami.brmartin.co.uk
    connect_address: 192.168.1.5
    fail_on_unverified: true
    min_days_valid: 14
  register: whoami_tls
"""

RETURN = r"""
verified:
  description: Whether the chain and the hostname verified.
  returned: success
  type: bool
  sample: true
verify_error:
  description: Why verification failed (null when verified).
  returned: success
  type: str
  sample: "Hostname mismatch, certificate is not valid for 'deep.whoami.brmartin.co.uk'."
subject:
  description: Subject of the presented certificate (RFC 4514).
  returned: success, with cryptography
  type: str
  sample: CN=*.brmartin.co.uk
common_name:
  description: Common name of the presented certificate.
  returned: success, with cryptography
  type: str
  sample: "*.brmartin.co.uk"
sans:
  description: DNS names and IP addresses in the certificate's subjectAltName.
  returned: success, with cryptography
  type: list
  elements: str
  sample: ["*.brmartin.co.uk", "brmartin.co.uk"]
issuer:
  description: Issuer of the presented certificate (RFC 4514).
  returned: success, with cryptography
  type: str
  sample: CN=R11,O=Let's Encrypt,C=US
not_before:
  description: Start of validity (UTC).
  returned: success, with cryptography
  type: str
  sample: "2026-11-01T00:00:00Z"
not_after:
  description: End of validity (UTC).
  returned: success, with cryptography
  type: str
  sample: "2027-01-30T00:00:00Z"
days_left:
  description: Whole days until RV(not_after).
  returned: success, with cryptography
  type: int
  sample: 65
serial:
  description: Serial number (hex).
  returned: success, with cryptography
  type: str
  sample: 3a9f
http:
  description: The answer to the C(GET) for O(http_path).
  returned: success, with http_path
  type: dict
  contains:
    path:
      description: The path requested.
      type: str
      sample: /.well-known/k3s-migration-hop
    status:
      description: HTTP status code.
      type: int
      sample: 418
    reason:
      description: HTTP reason phrase.
      type: str
      sample: I'm a teapot
    headers:
      description: Response headers, names in lower case.
      type: dict
      sample: {"x-k3s-migration-hop": "k3s-ingress.brmartin.internal"}
    body:
      description: The first 1024 bytes of the body, as text.
      type: str
      sample: ""
host:
  description: The name verified.
  returned: with O(host)
  type: str
  sample: whoami.brmartin.co.uk
endpoints:
  description:
    - With O(hosts), one entry per name, in order, with the fields this module returns for
      a single O(host) (RV(host), RV(verified), RV(http) and the certificate's), or
      C(host) and C(error) where nothing answered.
    - With O(expect_header), each entry also has C(attempts), how many answers it took.
  returned: with O(hosts)
  type: list
  elements: dict
  sample: [{"host": "whoami-k8s.brmartin.co.uk", "verified": true, "http": {"status": 418, "headers": {}}},
           {"host": "overseerr-k8s.brmartin.co.uk", "error": "nothing answers at 127.0.0.1:443"}]
attempts:
  description: With O(expect_header) and O(host), how many answers it took.
  returned: with O(host) and O(expect_header)
  type: int
  sample: 2
connect_address:
  description: The address dialled.
  returned: with O(host)
  type: str
  sample: 192.168.1.5
port:
  description: The port dialled.
  returned: with O(host)
  type: int
  sample: 443
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _tls as tls


def _ask(p, name):
    """One name's answer: asked again, O(delay) apart, until it carries O(expect_header) (at
    most O(attempts) times); C(host) and C(error) where nothing answered the last time."""
    want = (p['expect_header'] or '').lower()
    for attempt in range(1, (p['attempts'] if want else 1) + 1):
        if attempt > 1:
            time.sleep(p['delay'])
        try:
            result = tls.inspect(name, p['port'], p['connect_address'], p['ca_path'], p['timeout'], p['http_path'])
        except tls.NoAnswer as exc:
            result = {'host': name, 'port': p['port'], 'connect_address': p['connect_address'] or name,
                      'error': str(exc)}
        if want:
            result['attempts'] = attempt
        if not want or ((result.get('http') or {}).get('headers') or {}).get(want) == p['expect_value']:
            break
    return result


def _check(p, result):
    """The failure message of O(fail_on_unverified) and O(min_days_valid) for one answer, or None."""
    if p['fail_on_unverified'] and not result['verified']:
        return ('the certificate %s:%d presents for %s does not verify: %s (subject %s, issuer %s)'
                % (result['connect_address'], p['port'], result['host'], result['verify_error'],
                   result.get('subject'), result.get('issuer')))
    if p['min_days_valid'] and result.get('days_left') is not None and result['days_left'] < p['min_days_valid']:
        return ('the certificate for %s expires in %d days (on %s), fewer than %d'
                % (result['host'], result['days_left'], result['not_after'], p['min_days_valid']))
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str'),
            hosts=dict(type='list', elements='str'),
            port=dict(type='int', default=443),
            connect_address=dict(type='str'),
            ca_path=dict(type='path'),
            fail_on_unverified=dict(type='bool', default=False),
            min_days_valid=dict(type='int', default=0),
            timeout=dict(type='int', default=10),
            http_path=dict(type='str'),
            expect_header=dict(type='str'),
            expect_value=dict(type='str'),
            attempts=dict(type='int', default=1),
            delay=dict(type='int', default=1),
        ),
        required_one_of=[('host', 'hosts')],
        required_together=[('expect_header', 'expect_value')],
        required_by={'expect_header': ('http_path',)},
        mutually_exclusive=[('host', 'hosts')],
        supports_check_mode=True,
    )
    p = module.params
    names = p['hosts'] if p['hosts'] is not None else [p['host']]
    where = dict(port=p['port'], connect_address=p['connect_address'] or (p['host'] or ''))
    if p['host'] is not None:
        where['host'] = p['host']
    if not names or not all(names):
        module.fail_json(msg='hosts must name at least one host, and no empty name', **where)
    if p['ca_path']:
        if not os.path.isfile(p['ca_path']):
            module.fail_json(msg='ca_path %s does not exist' % p['ca_path'], **where)
    if p['http_path'] is not None and (not p['http_path'].startswith('/') or any(c.isspace() for c in p['http_path'])):
        module.fail_json(msg='http_path must start with / and hold no spaces, got %r' % p['http_path'], **where)
    if p['attempts'] < 1 or p['delay'] < 0:
        module.fail_json(msg='attempts must be 1 or more and delay not negative (got %d, %d)'
                         % (p['attempts'], p['delay']), **where)
    if not tls.HAS_CRYPTOGRAPHY:
        module.warn('the cryptography library is missing on this host: certificate details are not returned')
    if p['hosts'] is None:
        result = _ask(p, p['host'])
        if 'error' in result:
            module.fail_json(msg=result['error'], **where)
        failure = _check(p, result)
        if failure:
            module.fail_json(msg=failure, changed=False, **result)
        module.exit_json(changed=False, **result)
    endpoints, failures = [], []
    for name in names:
        result = _ask(p, name)
        endpoints.append(result)
        failure = _check(p, result) if 'error' not in result else None
        if failure:
            failures.append(failure)
    if failures:
        module.fail_json(msg='; '.join(failures), changed=False, endpoints=endpoints)
    module.exit_json(changed=False, endpoints=endpoints)


if __name__ == '__main__':
    main()
