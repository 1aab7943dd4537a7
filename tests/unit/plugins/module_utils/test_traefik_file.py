# SPDX-License-Identifier: GPL-3.0-or-later
"""Editing the operator's Traefik dynamic file: only our lines change, and they come out again."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _traefik_file as tf

WANTED = tf.entries([{'name': 'whoami', 'host': 'whoami.brmartin.co.uk'}], ['https://192.168.1.5:32443'],
                    'k3s-ingress.brmartin.internal', ['/etc/traefik/ca.pem'], 'k3s-migration', ['websecure'], 'le')

FILES = {
    'full': 'http:\n  routers:\n    a:\n      rule: Host(`a.example`)\n      service: a\n'
            '  services:\n    a:\n      loadBalancer:\n        servers:\n          - url: http://10.0.0.1\n'
            'tls:\n  options:\n    default:\n      minVersion: VersionTLS12\n',
    'four-space-indent': 'http:\n    routers:\n        a:\n            rule: Host(`a`)\n            service: a\n',
    'no-http': 'tcp:\n  routers: {}\n',
    'empty': '',
    'no-final-newline': 'http:\n  middlewares:\n    m:\n      headers:\n        frameDeny: true',
    'comments-and-blanks': '# top\nhttp:\n\n  # routers\n  routers:\n\n    # a\n    a:\n      service: a\n\n# end\n',
}


@pytest.mark.parametrize('name', sorted(FILES))
def test_insert_is_exactly_our_entries_and_remove_restores(name):
    text = FILES[name]
    new = tf.insert(text, WANTED, 'edge')
    assert yaml.safe_load(new) == tf.merged(yaml.safe_load(text), WANTED)
    assert tf.insert(new, WANTED, 'edge') == new  # idempotent
    restored = tf.remove(new, 'edge')
    if text.endswith('\n') or not text:
        assert restored == text
    else:  # a final newline is added once; everything else is as it was
        assert restored == text + '\n'
    kept = [line for line in new.splitlines() if '>>> edge' not in line]
    assert all(line in new for line in text.splitlines())
    assert len(kept) > 0


def test_router_fields():
    router = WANTED['routers']['k3s-whoami']
    assert router == {'rule': 'Host(`whoami.brmartin.co.uk`)', 'entryPoints': ['websecure'],
                      'service': 'k3s-whoami', 'tls': {'certResolver': 'le'}}
    assert WANTED['serversTransports'] == {'k3s-migration': {'serverName': 'k3s-ingress.brmartin.internal',
                                                             'rootCAs': ['/etc/traefik/ca.pem']}}
    assert 'insecureSkipVerify' not in repr(WANTED)


@pytest.mark.parametrize('text, message', [
    ('http: {routers: {}}\n', 'flow style'),
    ('http:\n  routers: {a: {service: a}}\n', 'flow style'),
])
def test_flow_style_is_refused(text, message):
    with pytest.raises(tf.TraefikFileError, match=message):
        tf.insert(text, WANTED, 'edge')


def test_unclosed_marker_is_refused():
    with pytest.raises(tf.TraefikFileError, match='no closing marker'):
        tf.remove('http:\n  # >>> edge: routers\n', 'edge')


def test_collisions_name_the_clashing_entries():
    parsed = yaml.safe_load('http:\n  routers:\n    k3s-whoami:\n      service: x\n')
    assert tf.collisions(parsed, WANTED) == ['routers.k3s-whoami']
    assert tf.collisions({}, WANTED) == []
