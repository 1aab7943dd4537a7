# Copyright (c) 2026 brmartin.k3s_migration contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""LAB STAND-IN for K3s's supervisor only: every Kubernetes program it starts is real.

The K3s module and its k3s-io forks are refused by the Go module proxy these machines
reach (docs/decisions/0008-lab-kubernetes.md), so the lab cannot build K3s itself. It
builds the upstream programs K3s embeds (tests/lab/build-k3s.sh): etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl (one multicall
binary of ours, `k8s`), containerd 2 with its runc shim and ctr, runc, the CNI plugins
and flanneld; and the images K3s deploys. This file is the `__main__` of the zip
application that build-k3s.sh writes as the release's `k3s` binary, so the k3s role
installs it exactly as it installs a real release. It does what K3s's own supervisor
does, in K3s's layout (docs.k3s.io/installation/configuration, /architecture):

- `k3s --version`; `k3s server` / `k3s agent` read /etc/rancher/k3s/config.yaml and
  config.yaml.d/*.yaml (later files win), flags override them;
- extracts its programs to /var/lib/rancher/k3s/data/<hash>/bin (data/current links to
  it), like K3s's self-extracting binary, so they run from under the data directory;
- server: PKI under server/tls, the token in server/token (`K10<CA hash>::server:<id>.
  <secret>`), etcd (with `cluster-init`, peers on 2380; a `server:` joins it through the
  member API), kube-apiserver on 6443, controller-manager, scheduler, the admin
  kubeconfig /etc/rancher/k3s/k3s.yaml (0600), the bundled manifests (coredns,
  local-storage, metrics-server, rolebindings) written to server/manifests unless
  disabled, and every file there applied again when it changes (K3s's deploy controller);
- agent (servers too): checks the server's CA against the token's hash, authenticates
  with the token, runs containerd (root agent/containerd, state /run/k3s/containerd),
  imports agent/images/*, runs flanneld (VXLAN on 8472, subnet from the node's podCIDR),
  writes the CNI config of network `cbr0` (bridge cni0), runs the kubelet (TLS
  bootstrap with the token) and kube-proxy (iptables);
- notifies systemd (READY=1) once the kubelet runs; a wrong token or an unreachable
  server is retried forever with K3s-style log lines, as K3s does (the role must time
  out); children die with it (PR_SET_PDEATHSIG), containerd's shims and the pods do not
  (K3s's KillMode=process behaviour, which k3s-killall.sh exists for).

What it does not do: K3s's own supervisor protocol (/v1-k3s/*, /cacerts), its
network-policy controller (kube-router), kine/SQLite (single servers run etcd here),
the HelmChart controller (docs/decisions/0009-lab-helm-controller.md), ServiceLB,
Traefik, secrets encryption, etcd TLS (the lab's etcd speaks plain HTTP).
"""

import base64
import ctypes
import glob
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile

VERSION = 'v0.0.0+lab'  # set by tests/lab/build-k3s.sh
CONFIG = '/etc/rancher/k3s/config.yaml'
DATA = '/var/lib/rancher/k3s'
TLS = DATA + '/server/tls'
TOKEN = DATA + '/server/token'
AGENT = DATA + '/agent'
KUBECONFIG = '/etc/rancher/k3s/k3s.yaml'
RUN = '/run/k3s'
SOCK = RUN + '/containerd/containerd.sock'
GROUP = 'system:bootstrappers:k3s-lab'
CHILDREN = []


def log(level, msg):
    stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    sys.stderr.write('time="%s" level=%s msg="%s"\n' % (stamp, level, msg.replace('"', '\\"')))
    sys.stderr.flush()


def fatal(msg):
    log('fatal', msg)
    stop_children()
    sys.exit(1)


# --- configuration --------------------------------------------------------------------

def parse_yaml(text):
    """The subset K3s config files use: `key: scalar`, `key: [a, b]`, `key:` + `- item`."""
    out, key = {}, None
    for raw in text.splitlines():
        line = raw.split(' #', 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith('#') or line.strip() == '---':
            continue
        if line.lstrip().startswith('- ') and key:
            if not isinstance(out.get(key), list):
                out[key] = []
            out[key].append(unquote(line.lstrip()[2:]))
            continue
        k, _sep, v = line.partition(':')
        key = k.strip()
        v = v.strip()
        if v == '':
            out[key] = []
        elif v.startswith('[') and v.endswith(']'):
            out[key] = [unquote(x) for x in v[1:-1].split(',') if x.strip()]
        else:
            out[key] = unquote(v)
    return out


def unquote(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in '"\'':
        return v[1:-1]
    return {'true': True, 'false': False}.get(v, v)


def load_config(argv):
    cfg = {}
    paths = [CONFIG]
    if os.path.isdir(CONFIG + '.d'):
        paths += sorted(os.path.join(CONFIG + '.d', f) for f in os.listdir(CONFIG + '.d')
                        if f.endswith(('.yaml', '.yml')))
    for path in paths:
        if os.path.exists(path):
            with open(path) as handle:
                cfg.update(parse_yaml(handle.read()))
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith('--'):
            k, sep, v = a[2:].partition('=')
            if not sep:
                v = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith('--') else True
                i += 0 if v is True else 1
            cfg[k] = v
        i += 1
    return cfg


def as_list(v):
    if v in (None, '', []):
        return []
    return v if isinstance(v, list) else [v]


def truthy(v):
    return v in (True, 'true', 'True', '1')


def default_ip():
    """The address of the interface carrying the default route (K3s's choice)."""
    out = subprocess.run(['ip', '-4', 'route', 'get', '1.1.1.1'], stdout=subprocess.PIPE, text=True,
                         check=False).stdout
    m = re.search(r'\bsrc (\S+)', out)
    return m.group(1) if m else '127.0.0.1'


def iface_of(ip):
    out = subprocess.run(['ip', '-4', '-o', 'addr', 'show'], stdout=subprocess.PIPE, text=True, check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[3].split('/')[0] == ip:
            return parts[1]
    return 'eth0'


class Node:
    def __init__(self, cfg, role):
        self.cfg = cfg
        self.role = role
        self.name = str(cfg.get('node-name') or socket.gethostname()).lower()
        self.ip = str(cfg.get('node-ip') or default_ip())
        self.iface = str(cfg.get('flannel-iface') or iface_of(self.ip))
        self.cluster_cidr = str(cfg.get('cluster-cidr', '10.42.0.0/16'))
        self.service_cidr = str(cfg.get('service-cidr', '10.43.0.0/16'))
        svc = ipaddress.ip_network(self.service_cidr)
        self.api_service_ip = str(svc.network_address + 1)
        self.dns_ip = str(cfg.get('cluster-dns') or svc.network_address + 10)
        self.disable = set(as_list(cfg.get('disable')))
        self.bin = None


# --- processes --------------------------------------------------------------------------

def pdeathsig():
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the supervisor


def start(name, argv, env=None, logfile=None):
    out = open(logfile or os.path.join(AGENT, 'logs', name + '.log'), 'ab')
    full_env = dict(os.environ, **(env or {}))
    full_env.pop('NOTIFY_SOCKET', None)  # only K3s itself talks to systemd
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env, preexec_fn=pdeathsig)
    CHILDREN.append((name, proc))
    log('info', 'Running %s %s' % (name, ' '.join(argv[1:])[:400]))
    return proc


def stop_children(*_args):
    for _name, proc in reversed(CHILDREN):
        if proc.poll() is None:
            proc.terminate()
    for _name, proc in reversed(CHILDREN):
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def watch_children():
    """K3s is one process: when one of its components dies, K3s dies (and systemd restarts it)."""
    while True:
        for name, proc in CHILDREN:
            if proc.poll() is not None:
                tail = ''
                path = os.path.join(AGENT, 'logs', name + '.log')
                if os.path.exists(path):
                    with open(path, 'rb') as handle:
                        handle.seek(max(0, os.path.getsize(path) - 1500))
                        tail = handle.read().decode(errors='replace').strip().splitlines()[-3:]
                fatal('%s exited with %s: %s' % (name, proc.returncode, ' | '.join(tail)))
        time.sleep(2)


def notify(state):
    addr = os.environ.get('NOTIFY_SOCKET')
    if not addr:
        return
    if addr.startswith('@'):
        addr = '\0' + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(state.encode())


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, **kw)


def wait_for(what, check, timeout=180, interval=1.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        time.sleep(interval)
    fatal('timed out waiting for %s: %s' % (what, last))


# --- files ------------------------------------------------------------------------------

def write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if os.path.exists(path):
        with open(path, 'rb') as handle:
            if handle.read() == data:
                os.chmod(path, mode)
                return False
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def read(path):
    with open(path) as handle:
        return handle.read()


def extract():
    """Unpack the programs carried in this zip to data/<hash>/bin (K3s's own layout)."""
    me = os.path.realpath(sys.argv[0])
    with open(me, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()[:16]
    target = os.path.join(DATA, 'data', digest)
    if not os.path.exists(os.path.join(target, '.complete')):
        tmp = target + '.tmp'
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(me) as archive:
            for info in archive.infolist():
                if not info.filename.startswith(('bin/', 'manifests/')) or info.is_dir():
                    continue
                dest = os.path.join(tmp, info.filename)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with archive.open(info) as src, open(dest, 'wb') as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(dest, 0o755)
        for link, to in (('kubectl', 'k8s'), ('etcd', 'k8s'), ('kubelet', 'k8s'), ('kube-proxy', 'k8s'),
                         ('kube-apiserver', 'k8s'), ('kube-controller-manager', 'k8s'),
                         ('kube-scheduler', 'k8s')):
            os.symlink(to, os.path.join(tmp, 'bin', link))
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        write(os.path.join(target, '.complete'), digest + '\n', 0o644)
    current = os.path.join(DATA, 'data', 'current')
    if os.path.realpath(current) != target:
        tmp_link = current + '.new'
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(digest, tmp_link)
        os.replace(tmp_link, current)
    return os.path.join(current, 'bin')


# --- PKI (openssl) --------------------------------------------------------------------

def openssl(*args, stdin=None):
    p = subprocess.run(['openssl'] + list(args), input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, check=False)
    if p.returncode:
        fatal('openssl %s: %s' % (args[0], p.stderr.strip()))
    return p.stdout


def new_key(path):
    if not os.path.exists(path):
        openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path)
        os.chmod(path, 0o600)


def new_ca(name, cn):
    crt, key = os.path.join(TLS, name + '.crt'), os.path.join(TLS, name + '.key')
    if not os.path.exists(crt):
        new_key(key)
        openssl('req', '-x509', '-new', '-key', key, '-subj', '/CN=%s' % cn, '-days', '3650', '-out', crt,
                '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    return crt, key


def new_cert(name, ca, cn, org=None, sans=None, server=False):
    crt, key = os.path.join(TLS, name + '.crt'), os.path.join(TLS, name + '.key')
    if os.path.exists(crt):
        return crt, key
    new_key(key)
    subj = '/CN=%s' % cn + ('/O=%s' % org if org else '')
    csr = openssl('req', '-new', '-key', key, '-subj', subj)
    ext = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
           'extendedKeyUsage=%s' % ('serverAuth,clientAuth' if server else 'clientAuth')]
    if sans:
        ext.append('subjectAltName=' + ','.join(sans))
    with tempfile.NamedTemporaryFile('w', suffix='.ext', delete=False) as extfile:
        extfile.write('\n'.join(ext) + '\n')
    try:
        openssl('x509', '-req', '-CA', ca[0], '-CAkey', ca[1], '-CAcreateserial', '-days', '3650',
                '-extfile', extfile.name, '-out', crt, stdin=csr)
    finally:
        os.unlink(extfile.name)
    return crt, key


def b64(path):
    with open(path, 'rb') as handle:
        return base64.b64encode(handle.read()).decode()


def kubeconfig(path, server, ca, cert=None, token=None, mode=0o600):
    user = ('    client-certificate-data: %s\n    client-key-data: %s\n' % (b64(cert[0]), b64(cert[1]))
            if cert else '    token: %s\n' % token)
    return write(path, """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
{user}""".format(ca=base64.b64encode(ca.encode() if isinstance(ca, str) else ca).decode(),
                 server=server, user=user), mode)


# --- token ----------------------------------------------------------------------------

def bootstrap_pair(secret_part):
    """The bootstrap token (id.secret) a K3s token's secret part maps to."""
    m = re.fullmatch(r'([a-z0-9]{6})\.([a-z0-9]{16})', secret_part)
    if m:
        return m.group(1), m.group(2)
    h = hashlib.sha256(secret_part.encode()).hexdigest()
    return h[:6], h[6:22]


def split_token(token):
    """`K10<ca sha256>::<user>:<secret>` (full) or a bare secret (no CA pin)."""
    m = re.fullmatch(r'K10([0-9a-f]{64})::([^:]+):(.+)', token)
    if m:
        return m.group(1), m.group(3)
    return None, token


# --- the API, from the supervisor -------------------------------------------------------

def api(server, path, token=None, cadata=None, method='GET', body=None, insecure=False):
    ctx = ssl.create_default_context(cadata=cadata) if cadata else ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(server.rstrip('/') + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header('Accept', 'application/json')
    if body is not None:
        req.add_header('Content-Type', 'application/json')
    if token:
        req.add_header('Authorization', 'Bearer ' + token)
    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
        return json.loads(resp.read() or b'{}')


def fetch_ca(server, ca_hash):
    """The cluster CA from kube-public/cluster-info, pinned by the token's hash."""
    info = api(server, '/api/v1/namespaces/kube-public/configmaps/cluster-info', insecure=True)
    ca = info['data']['ca.crt']
    got = hashlib.sha256(ca.encode()).hexdigest()
    if ca_hash and got != ca_hash:
        raise ValueError('token CA hash does not match the Cluster CA certificate hash: %s != %s' % (ca_hash, got))
    return ca


def join_check(server, token):
    """Retry, as K3s does, until the server answers and accepts the token."""
    ca_hash, secret_part = split_token(token)
    bootstrap = '%s.%s' % bootstrap_pair(secret_part)
    while True:
        try:
            ca = fetch_ca(server, ca_hash)
            api(server, '/api/v1/namespaces/kube-system/configmaps/k3s-lab-join', token=bootstrap, cadata=ca)
            return ca, bootstrap
        except urllib.error.HTTPError as exc:
            msg = 'Failed to validate connection to cluster at %s: %s %s' % (
                server, exc.code, exc.read().decode(errors='replace').strip()[:200])
        except (OSError, ValueError, KeyError) as exc:
            msg = 'failed to get CA certs: %s: %s' % (server, exc)
        log('error', msg)
        time.sleep(5)


# --- server ---------------------------------------------------------------------------

def kubectl(node, *args, stdin=None):
    return subprocess.run([os.path.join(node.bin, 'k8s'), 'kubectl', '--kubeconfig', KUBECONFIG] + list(args),
                          input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)


def server_pki(node):
    os.makedirs(TLS, mode=0o700, exist_ok=True)
    server_ca = new_ca('server-ca', 'k3s-server-ca')
    client_ca = new_ca('client-ca', 'k3s-client-ca')
    rh_ca = new_ca('request-header-ca', 'k3s-request-header-ca')
    new_key(os.path.join(TLS, 'service.key'))
    sans = ['IP:127.0.0.1', 'IP:' + node.ip, 'IP:' + node.api_service_ip, 'DNS:localhost', 'DNS:kubernetes',
            'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local',
            'DNS:' + node.name]
    for san in as_list(node.cfg.get('tls-san')):
        try:
            ipaddress.ip_address(str(san))
            sans.append('IP:%s' % san)
        except ValueError:
            sans.append('DNS:%s' % san)
    sans = list(dict.fromkeys(sans))
    serving = os.path.join(TLS, 'serving-kube-apiserver')
    sans_file = serving + '.sans'
    if os.path.exists(sans_file) and read(sans_file) != '\n'.join(sans):
        for ext in ('.crt', '.key'):
            os.unlink(serving + ext)  # new SANs: reissue, like K3s's dynamiclistener
    write(sans_file, '\n'.join(sans), 0o600)
    certs = {
        'serving': new_cert('serving-kube-apiserver', server_ca, 'kube-apiserver', sans=sans, server=True),
        'admin': new_cert('client-admin', client_ca, 'system:admin', 'system:masters'),
        'controller': new_cert('client-controller', client_ca, 'system:kube-controller-manager'),
        'scheduler': new_cert('client-scheduler', client_ca, 'system:kube-scheduler'),
        'apiserver-kubelet': new_cert('client-kube-apiserver', client_ca, 'system:kube-apiserver'),
        'auth-proxy': new_cert('client-auth-proxy', rh_ca, 'system:auth-proxy'),
    }
    return server_ca, client_ca, rh_ca, certs


BUNDLE_FILES = ('server-ca', 'client-ca', 'request-header-ca')
# The controller-manager and scheduler exit when they cannot renew their leader lease in
# time (10 s by default), and K3s with them. On the lab's 2 cores, with emulated arm64
# nodes booting beside it, that happened: longer leases here (K3s keeps the defaults).
LAB_LEADER_ELECTION = ['--leader-elect-lease-duration', '60s', '--leader-elect-renew-deadline', '40s',
                       '--leader-elect-retry-period', '5s']


def bootstrap_bundle():
    """What a joining server needs (K3s keeps the same in its datastore, encrypted)."""
    files = {}
    for name in BUNDLE_FILES:
        files[name + '.crt'] = read(os.path.join(TLS, name + '.crt'))
        files[name + '.key'] = read(os.path.join(TLS, name + '.key'))
    files['service.key'] = read(os.path.join(TLS, 'service.key'))
    return files


def start_etcd(node, joining_peers=None):
    db = os.path.join(DATA, 'server', 'db', 'etcd')
    existing = os.path.isdir(os.path.join(db, 'member'))
    peer = 'http://%s:2380' % node.ip
    clustered = truthy(node.cfg.get('cluster-init')) or node.cfg.get('server') or os.path.exists(db + '-clustered')
    listen_client = 'http://127.0.0.1:2379' + (',http://%s:2379' % node.ip if clustered else '')
    args = [os.path.join(node.bin, 'etcd'), '--name', node.name, '--data-dir', db,
            '--listen-client-urls', listen_client, '--advertise-client-urls', 'http://%s:2379' % node.ip,
            '--listen-peer-urls', 'http://%s:2380' % node.ip if clustered else 'http://127.0.0.1:2380',
            '--initial-advertise-peer-urls', peer if clustered else 'http://127.0.0.1:2380',
            '--heartbeat-interval', '500', '--election-timeout', '5000', '--quota-backend-bytes', str(2 << 30),
            '--log-level', 'warn']
    if not existing:
        if joining_peers:
            args += ['--initial-cluster', joining_peers, '--initial-cluster-state', 'existing']
        else:
            args += ['--initial-cluster', '%s=%s' % (node.name, peer if clustered else 'http://127.0.0.1:2380'),
                     '--initial-cluster-state', 'new']
            if truthy(node.cfg.get('cluster-init')):
                os.makedirs(os.path.dirname(db), exist_ok=True)
                with open(os.path.join(DATA, 'server', 'db', 'cluster-init.log'), 'a') as handle:
                    handle.write('cluster initialised by %s\n' % node.name)
    if clustered:
        write(db + '-clustered', 'yes\n')
    os.makedirs(db, mode=0o700, exist_ok=True)
    start('etcd', args)
    wait_for('etcd', lambda: urllib.request.urlopen('http://127.0.0.1:2379/health', timeout=3).status == 200, 120)


def etcd_join(node, primary_ip):
    """Add this server to the primary's etcd (the v3 JSON gateway's member API)."""
    base = 'http://%s:2379' % primary_ip
    peer = 'http://%s:2380' % node.ip

    def call(path, body):
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method='POST')
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b'{}')

    members = call('/v3/cluster/member/list', {}).get('members', [])
    if not any(peer in m.get('peerURLs', []) for m in members):
        added = call('/v3/cluster/member/add', {'peerURLs': [peer]})
        members = added.get('members', members)
    pairs = []
    for m in members:
        name = m.get('name') or node.name
        pairs += ['%s=%s' % (name, u) for u in m.get('peerURLs', [])]
    return ','.join(pairs)


def run_server(argv):
    cfg = load_config(argv)
    node = Node(cfg, 'server')
    prepare_dirs()
    node.bin = extract()
    token = cfg.get('token')
    if not token and cfg.get('token-file'):
        token = read(str(cfg['token-file'])).strip()
    joining = cfg.get('server')
    joining_peers = None
    if joining and not os.path.isdir(os.path.join(DATA, 'server', 'db', 'etcd', 'member')):
        if not token:
            fatal('Error: --token is required when joining a server')
        ca, bootstrap = join_check(str(joining), str(token))
        bundle = api(str(joining), '/api/v1/namespaces/kube-system/secrets/k3s-lab-bootstrap', token=bootstrap,
                     cadata=ca)
        os.makedirs(TLS, mode=0o700, exist_ok=True)
        for name, value in bundle['data'].items():
            write(os.path.join(TLS, name), base64.b64decode(value), 0o600)
        primary_ip = re.sub(r'^https://([^:/]+).*$', r'\1', str(joining))
        joining_peers = etcd_join(node, primary_ip)
    server_ca, client_ca, rh_ca, certs = server_pki(node)
    ca_pem = read(server_ca[0])
    ca_hash = hashlib.sha256(ca_pem.encode()).hexdigest()
    if not os.path.exists(TOKEN):
        secret_part = split_token(str(token))[1] if token else '%s.%s' % (
            secrets.token_hex(3), secrets.token_hex(8))
        write(TOKEN, 'K10%s::server:%s\n' % (ca_hash, secret_part))
    secret_part = split_token(read(TOKEN).strip())[1]
    write(DATA + '/server/node-token', read(TOKEN), 0o600)
    token_id, token_secret = bootstrap_pair(secret_part)

    start_etcd(node, joining_peers)
    url = 'https://127.0.0.1:6443'
    for name in ('controller', 'scheduler'):
        kubeconfig(os.path.join(DATA, 'server', 'cred', name + '.kubeconfig'), url, ca_pem, certs[name])
    kubeconfig(KUBECONFIG, url, ca_pem, certs['admin'], mode=int(str(cfg.get('write-kubeconfig-mode', '0600')), 8))
    start('kube-apiserver', [
        os.path.join(node.bin, 'kube-apiserver'), '--advertise-address', node.ip, '--bind-address', '0.0.0.0',
        '--secure-port', str(cfg.get('https-listen-port', 6443)), '--etcd-servers', 'http://127.0.0.1:2379',
        '--client-ca-file', client_ca[0], '--tls-cert-file', certs['serving'][0],
        '--tls-private-key-file', certs['serving'][1],
        '--service-account-key-file', os.path.join(TLS, 'service.key'),
        '--service-account-signing-key-file', os.path.join(TLS, 'service.key'),
        '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
        '--api-audiences', 'https://kubernetes.default.svc.cluster.local,k3s',
        '--service-cluster-ip-range', node.service_cidr,
        '--service-node-port-range', str(cfg.get('service-node-port-range', '30000-32767')),
        '--authorization-mode', 'Node,RBAC', '--enable-admission-plugins', 'NodeRestriction',
        '--enable-bootstrap-token-auth', '--anonymous-auth=true', '--allow-privileged=true', '--profiling=false',
        '--kubelet-client-certificate', certs['apiserver-kubelet'][0],
        '--kubelet-client-key', certs['apiserver-kubelet'][1],
        '--kubelet-preferred-address-types', 'InternalIP,ExternalIP,Hostname',
        '--requestheader-client-ca-file', rh_ca[0], '--requestheader-allowed-names', 'system:auth-proxy',
        '--requestheader-extra-headers-prefix', 'X-Remote-Extra-', '--requestheader-group-headers',
        'X-Remote-Group', '--requestheader-username-headers', 'X-Remote-User',
        '--proxy-client-cert-file', certs['auth-proxy'][0], '--proxy-client-key-file', certs['auth-proxy'][1],
        '--enable-aggregator-routing=true', '--endpoint-reconciler-type', 'lease',
    ] + ['--' + a for a in as_list(cfg.get('kube-apiserver-arg'))])

    def ready():
        return kubectl(node, 'get', '--raw', '/readyz').stdout.strip() == 'ok'
    wait_for('kube-apiserver', ready, 180)
    seed_cluster(node, ca_pem, token_id, token_secret)
    start('kube-controller-manager', [
        os.path.join(node.bin, 'kube-controller-manager'),
        '--kubeconfig', DATA + '/server/cred/controller.kubeconfig',
        '--authentication-kubeconfig', DATA + '/server/cred/controller.kubeconfig',
        '--authorization-kubeconfig', DATA + '/server/cred/controller.kubeconfig',
        '--bind-address', '127.0.0.1', '--secure-port', '10257', '--allocate-node-cidrs=true',
        '--cluster-cidr', node.cluster_cidr, '--service-cluster-ip-range', node.service_cidr,
        '--node-cidr-mask-size', '24', '--cluster-signing-cert-file', client_ca[0],
        '--cluster-signing-key-file', client_ca[1], '--root-ca-file', server_ca[0],
        '--service-account-private-key-file', os.path.join(TLS, 'service.key'),
        '--use-service-account-credentials=true', '--controllers', '*,tokencleaner,bootstrapsigner',
        '--configure-cloud-routes=false', '--profiling=false',
    ] + LAB_LEADER_ELECTION + ['--' + a for a in as_list(cfg.get('kube-controller-manager-arg'))])
    start('kube-scheduler', [
        os.path.join(node.bin, 'kube-scheduler'), '--kubeconfig', DATA + '/server/cred/scheduler.kubeconfig',
        '--authentication-kubeconfig', DATA + '/server/cred/scheduler.kubeconfig',
        '--authorization-kubeconfig', DATA + '/server/cred/scheduler.kubeconfig',
        '--bind-address', '127.0.0.1', '--secure-port', '10259', '--profiling=false',
    ] + LAB_LEADER_ELECTION + ['--' + a for a in as_list(cfg.get('kube-scheduler-arg'))])
    write_manifests(node)
    threading.Thread(target=deploy_loop, args=(node,), daemon=True).start()
    run_agent_parts(node, 'https://127.0.0.1:6443', ca_pem, '%s.%s' % (token_id, token_secret))
    threading.Thread(target=label_loop, args=(node,), daemon=True).start()
    notify('READY=1')
    log('info', 'k3s is up and running')
    watch_children()


def seed_cluster(node, ca_pem, token_id, token_secret):
    """What kubeadm-style bootstrapping needs: the token, cluster-info, RBAC for agents."""
    docs = [
        {'apiVersion': 'v1', 'kind': 'Secret', 'type': 'bootstrap.kubernetes.io/token',
         'metadata': {'name': 'bootstrap-token-' + token_id, 'namespace': 'kube-system'},
         'stringData': {'token-id': token_id, 'token-secret': token_secret, 'usage-bootstrap-authentication': 'true',
                        'auth-extra-groups': GROUP, 'description': 'K3s lab join token'}},
        {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'cluster-info', 'namespace': 'kube-public'},
         'data': {'ca.crt': ca_pem, 'client-ca.crt': read(os.path.join(TLS, 'client-ca.crt'))}},
        {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'k3s-lab-join', 'namespace': 'kube-system'},
         'data': {'purpose': 'a joining node reads this to prove its token'}},
        {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'k3s-lab-bootstrap', 'namespace': 'kube-system'},
         'data': {k: base64.b64encode(v.encode()).decode() for k, v in bootstrap_bundle().items()}},
        role('Role', 'k3s-lab-cluster-info', 'kube-public', [
            {'apiGroups': [''], 'resources': ['configmaps'], 'resourceNames': ['cluster-info'], 'verbs': ['get']}]),
        binding('RoleBinding', 'k3s-lab-cluster-info', 'kube-public', 'Role', 'k3s-lab-cluster-info',
                [{'kind': 'User', 'name': 'system:anonymous', 'apiGroup': 'rbac.authorization.k8s.io'}]),
        role('Role', 'k3s-lab-join', 'kube-system', [
            {'apiGroups': [''], 'resources': ['configmaps'], 'resourceNames': ['k3s-lab-join'], 'verbs': ['get']},
            {'apiGroups': [''], 'resources': ['secrets'], 'resourceNames': ['k3s-lab-bootstrap'], 'verbs': ['get']}]),
        binding('RoleBinding', 'k3s-lab-join', 'kube-system', 'Role', 'k3s-lab-join', [group(GROUP)]),
        role('ClusterRole', 'k3s-lab-agent', None, [
            {'apiGroups': [''], 'resources': ['nodes'],
             'verbs': ['get', 'list', 'watch', 'patch', 'update', 'create']},
            {'apiGroups': [''], 'resources': ['nodes/status'], 'verbs': ['patch', 'update']},
            {'apiGroups': ['coordination.k8s.io'], 'resources': ['leases'],
             'verbs': ['get', 'create', 'update', 'patch']}]),
        binding('ClusterRoleBinding', 'k3s-lab-agent', None, 'ClusterRole', 'k3s-lab-agent', [group(GROUP)]),
        binding('ClusterRoleBinding', 'k3s-lab-node-proxier', None, 'ClusterRole', 'system:node-proxier',
                [group(GROUP)]),
        binding('ClusterRoleBinding', 'k3s-lab-node-bootstrapper', None, 'ClusterRole', 'system:node-bootstrapper',
                [group('system:bootstrappers')]),
        binding('ClusterRoleBinding', 'k3s-lab-node-autoapprove-bootstrap', None, 'ClusterRole',
                'system:certificates.k8s.io:certificatesigningrequests:nodeclient', [group('system:bootstrappers')]),
        binding('ClusterRoleBinding', 'k3s-lab-node-autoapprove-renewal', None, 'ClusterRole',
                'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [group('system:nodes')]),
    ]
    payload = json.dumps({'apiVersion': 'v1', 'kind': 'List', 'items': docs})
    for _attempt in range(30):
        p = kubectl(node, 'apply', '--server-side', '--force-conflicts', '--field-manager', 'k3s', '-f', '-',
                    stdin=payload)
        if p.returncode == 0:
            return
        time.sleep(2)
    fatal('seeding the cluster failed: %s' % p.stderr.strip())


def role(kind, name, ns, rules):
    meta = {'name': name}
    if ns:
        meta['namespace'] = ns
    return {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': kind, 'metadata': meta, 'rules': rules}


def binding(kind, name, ns, ref_kind, ref_name, subjects):
    meta = {'name': name}
    if ns:
        meta['namespace'] = ns
    return {'apiVersion': 'rbac.authorization.k8s.io/v1', 'kind': kind, 'metadata': meta,
            'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': ref_kind, 'name': ref_name},
            'subjects': subjects}


def group(name):
    return {'kind': 'Group', 'name': name, 'apiGroup': 'rbac.authorization.k8s.io'}


def write_manifests(node):
    """K3s writes its bundled manifests to server/manifests at every start (unless disabled)."""
    src = os.path.join(os.path.dirname(node.bin), 'manifests')
    dest = os.path.join(DATA, 'server', 'manifests')
    os.makedirs(dest, mode=0o700, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(src, '*.yaml'))):
        name = os.path.basename(path)[:-len('.yaml')]
        if name in node.disable:
            if os.path.exists(os.path.join(dest, name + '.yaml')):
                os.unlink(os.path.join(dest, name + '.yaml'))
            continue
        text = read(path).replace('%{CLUSTER_DNS}%', node.dns_ip).replace('%{CLUSTER_DOMAIN}%', 'cluster.local')
        write(os.path.join(dest, name + '.yaml'), text, 0o600)


def deploy_loop(node):
    """Apply every manifest under server/manifests when its content changes."""
    applied = {}
    dest = os.path.join(DATA, 'server', 'manifests')
    while True:
        for path in sorted(glob.glob(os.path.join(dest, '*.yaml')) + glob.glob(os.path.join(dest, '*.yml'))):
            try:
                with open(path, 'rb') as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            except OSError:
                continue
            if applied.get(path) == digest:
                continue
            p = kubectl(node, 'apply', '--server-side', '--force-conflicts', '--field-manager', 'k3s-deploy',
                        '-f', path)
            if p.returncode == 0:
                applied[path] = digest
                log('info', 'Applied manifest %s' % path)
            else:
                log('error', 'Failed to apply %s: %s' % (path, p.stderr.strip()[:300]))
        time.sleep(5)


def label_loop(node):
    labels = ['node-role.kubernetes.io/control-plane=true', 'node-role.kubernetes.io/master=true']
    if os.path.exists(os.path.join(DATA, 'server', 'db', 'etcd-clustered')):
        labels.append('node-role.kubernetes.io/etcd=true')
    while kubectl(node, 'label', '--overwrite', 'node', node.name, *labels).returncode:
        time.sleep(3)


# --- agent --------------------------------------------------------------------------------

def prepare_dirs():
    for d in (AGENT + '/logs', AGENT + '/etc/cni/net.d', AGENT + '/etc/containerd', AGENT + '/images',
              RUN + '/containerd', '/var/lib/kubelet'):
        os.makedirs(d, exist_ok=True)


def containerd_config(node):
    snapshotter = str(node.cfg.get('snapshotter', 'overlayfs'))
    return """# Written by the lab's K3s launcher, as K3s writes agent/etc/containerd/config.toml
version = 3
root = "{agent}/containerd"
state = "{run}/containerd"

[grpc]
  address = "{sock}"

[plugins.'io.containerd.internal.v1.opt']
  path = "{agent}/containerd"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "{snap}"
  disable_snapshot_annotations = true

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "docker.io/rancher/mirrored-pause:3.6"

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = {restrict}

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "{bin}/runc"

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["{bin}"]
  conf_dir = "{agent}/etc/cni/net.d"
""".format(agent=AGENT, run=RUN, sock=SOCK, snap=snapshotter, bin=node.bin,
           restrict='false' if can_lower_oom_score() else 'true')


def can_lower_oom_score():
    """Some hosts (this project's test VMs) drop CAP_SYS_RESOURCE even for root: runc then
    dies writing the pod sandbox's oom_score_adj (-998), "can't get final child's PID from
    pipe: EOF". containerd's restrict_oom_score_adj (what K3s sets when rootless) keeps
    every score at or above containerd's own there."""
    p = subprocess.run(['sh', '-c', 'echo -1 > /proc/self/oom_score_adj'], stderr=subprocess.DEVNULL, check=False)
    if p.returncode:
        log('warning', 'this host cannot lower oom_score_adj (no CAP_SYS_RESOURCE): restrict_oom_score_adj = true')
    return p.returncode == 0


def import_images(node):
    """Import agent/images/* at every start, as K3s does: an image removed since (kubelet's
    garbage collection, crictl rmi) comes back, since no registry can give it back."""
    for path in sorted(glob.glob(os.path.join(AGENT, 'images', '*.tar*'))):
        cat = ['zstd', '-dcq', path] if path.endswith('.zst') else ['gzip', '-dc', path] if path.endswith(
            '.gz') else ['cat', path]
        dec = subprocess.Popen(cat, stdout=subprocess.PIPE)
        p = subprocess.run([os.path.join(node.bin, 'ctr'), '--address', SOCK, '-n', 'k8s.io', 'images', 'import',
                            '--no-unpack', '-'], stdin=dec.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, check=False)
        dec.wait()
        if p.returncode:
            fatal('importing %s failed: %s' % (path, p.stderr.strip()))
        log('info', 'Imported images from %s' % path)


def wait_pod_cidr(node, server, ca_pem, bootstrap):
    """flannel needs the node's podCIDR, which the controller-manager sets once the node registers."""
    while True:
        try:
            obj = api(server, '/api/v1/nodes/' + node.name, token=bootstrap, cadata=ca_pem)
            if obj.get('spec', {}).get('podCIDR'):
                return obj['spec']['podCIDR']
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1)


def cni_config(subnet_env):
    env = dict(line.split('=', 1) for line in read(subnet_env).split() if '=' in line)
    subnet = str(ipaddress.ip_interface(env['FLANNEL_SUBNET']).network)
    return json.dumps({
        'cniVersion': '1.0.0', 'name': 'cbr0',
        'plugins': [
            {'type': 'bridge', 'bridge': 'cni0', 'isGateway': True, 'isDefaultGateway': True, 'ipMasq': False,
             'hairpinMode': True, 'forceAddress': True, 'mtu': int(env.get('FLANNEL_MTU', 1450)),
             'ipam': {'type': 'host-local', 'ranges': [[{'subnet': subnet}]]}},
            {'type': 'portmap', 'capabilities': {'portMappings': True}},
            {'type': 'bandwidth', 'capabilities': {'bandwidth': True}},
        ]}, indent=2) + '\n'


def run_agent_parts(node, server, ca_pem, bootstrap):
    env = {'PATH': node.bin + ':' + os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}
    os.environ['PATH'] = env['PATH']
    write(AGENT + '/etc/containerd/config.toml', containerd_config(node), 0o600)
    ctr_proc = start('containerd', [os.path.join(node.bin, 'containerd'), '--config',
                                    AGENT + '/etc/containerd/config.toml'], env)
    wait_for('containerd', lambda: ctr_proc.poll() is None and run(
        [os.path.join(node.bin, 'ctr'), '--address', SOCK, 'version']).returncode == 0, 60)
    import_images(node)
    ca_file = AGENT + '/server-ca.crt'
    write(ca_file, ca_pem, 0o644)
    kubeconfig(AGENT + '/kubelet-bootstrap.kubeconfig', server, ca_pem, token=bootstrap)
    kubeconfig(AGENT + '/agent-token.kubeconfig', server, ca_pem, token=bootstrap)
    labels = as_list(node.cfg.get('node-label'))
    resolv = str(node.cfg.get('resolv-conf') or '/etc/resolv.conf')
    kubelet_args = [
        os.path.join(node.bin, 'kubelet'), '--kubeconfig', AGENT + '/kubelet.kubeconfig',
        '--bootstrap-kubeconfig', AGENT + '/kubelet-bootstrap.kubeconfig', '--cert-dir', AGENT + '/kubelet-pki',
        '--rotate-certificates=true', '--hostname-override', node.name, '--node-ip', node.ip,
        '--container-runtime-endpoint', 'unix://' + SOCK, '--cgroup-driver', 'cgroupfs',
        '--cluster-dns', node.dns_ip, '--cluster-domain', 'cluster.local', '--resolv-conf', resolv,
        '--fail-swap-on=false', '--authentication-token-webhook=true', '--authorization-mode', 'Webhook',
        '--client-ca-file', AGENT + '/client-ca.crt', '--anonymous-auth=false', '--read-only-port', '0',
        '--healthz-bind-address', '127.0.0.1', '--serialize-image-pulls=false', '--make-iptables-util-chains=true',
        '--eviction-hard', 'imagefs.available<5%,nodefs.available<5%', '--eviction-minimum-reclaim',
        'imagefs.available=10%,nodefs.available=10%', '--pod-manifest-path', AGENT + '/pod-manifests',
        '--root-dir', '/var/lib/kubelet', '--register-with-taints', ','.join(as_list(node.cfg.get('node-taint'))),
    ]
    if labels:
        kubelet_args += ['--node-labels', ','.join(str(x) for x in labels)]
    kubelet_args += ['--' + a for a in as_list(node.cfg.get('kubelet-arg'))]
    os.makedirs(AGENT + '/pod-manifests', exist_ok=True)
    client_ca = api(server, '/api/v1/namespaces/kube-public/configmaps/cluster-info', cadata=ca_pem)
    write(AGENT + '/client-ca.crt', client_ca.get('data', {}).get('client-ca.crt', ca_pem), 0o644)
    start('kubelet', kubelet_args, env)
    start('kube-proxy', [
        os.path.join(node.bin, 'kube-proxy'), '--kubeconfig', AGENT + '/agent-token.kubeconfig',
        '--hostname-override', node.name, '--cluster-cidr', node.cluster_cidr, '--proxy-mode', 'iptables',
        '--conntrack-max-per-core', '0', '--healthz-bind-address', '127.0.0.1:10256',
        '--metrics-bind-address', '127.0.0.1:10249', '--nodeport-addresses', 'primary',
    ] + ['--' + a for a in as_list(node.cfg.get('kube-proxy-arg'))], env)
    backend = str(node.cfg.get('flannel-backend', 'vxlan'))
    if backend != 'none':
        threading.Thread(target=run_flannel, args=(node, server, ca_pem, bootstrap, backend, env),
                         daemon=True).start()


def run_flannel(node, server, ca_pem, bootstrap, backend, env):
    wait_pod_cidr(node, server, ca_pem, bootstrap)
    net_conf = AGENT + '/etc/flannel/net-conf.json'
    write(net_conf, json.dumps({'Network': node.cluster_cidr, 'EnableIPv6': False, 'EnableIPv4': True,
                                'Backend': {'Type': backend}}) + '\n', 0o600)
    os.makedirs('/run/flannel', exist_ok=True)
    start('flannel', [os.path.join(node.bin, 'flanneld'), '--kubeconfig-file',
                      AGENT + '/agent-token.kubeconfig', '--iface', node.iface,
                      '--net-config-path', net_conf, '--subnet-file', '/run/flannel/subnet.env'],
          dict(env, NODE_NAME=node.name))
    wait_for('flannel subnet', lambda: os.path.exists('/run/flannel/subnet.env'), 120)
    write(AGENT + '/etc/cni/net.d/10-flannel.conflist', cni_config('/run/flannel/subnet.env'), 0o600)
    # PR_SET_PDEATHSIG fires when the thread that started a child ends: this one stays.
    threading.Event().wait()


def run_agent(argv):
    cfg = load_config(argv)
    node = Node(cfg, 'agent')
    token = cfg.get('token')
    if not token and cfg.get('token-file'):  # K3s's --token-file / token-file:, whitespace trimmed
        token = read(str(cfg['token-file'])).strip()
    if not cfg.get('server') or not token:
        fatal('Error: --server and --token are required for an agent')
    prepare_dirs()
    node.bin = extract()
    ca_pem, bootstrap = join_check(str(cfg['server']), str(token))
    run_agent_parts(node, str(cfg['server']), ca_pem, bootstrap)
    notify('READY=1')
    log('info', 'k3s agent is up and running')
    watch_children()


def on_sigterm(*_args):
    stop_children()
    sys.exit(0)


def main(argv):
    if not argv or argv[0] in ('--version', '-v', 'version', '-version'):
        print('k3s version %s (lab)\ngo version %s' % (VERSION, GO_VERSION))
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd in ('server', 'agent'):
        signal.signal(signal.SIGTERM, on_sigterm)
        return run_server(rest) if cmd == 'server' else run_agent(rest)
    if cmd in ('kubectl', 'crictl', 'ctr'):
        bindir = os.path.join(DATA, 'data', 'current', 'bin')
        if not os.path.exists(os.path.join(bindir, 'k8s')):
            bindir = extract()
        if cmd == 'kubectl':
            if not os.environ.get('KUBECONFIG') and '--kubeconfig' not in ' '.join(rest):
                os.environ['KUBECONFIG'] = KUBECONFIG
            os.execv(os.path.join(bindir, 'k8s'), ['kubectl'] + rest)
        if cmd == 'ctr':
            os.execv(os.path.join(bindir, 'ctr'), ['ctr', '--address', SOCK] + rest)
        sys.stderr.write('crictl is not part of the lab build; use ctr -n k8s.io\n')
        return 1
    sys.stderr.write('k3s (lab): unsupported command %s\n' % cmd)
    return 1


GO_VERSION = 'unknown'  # set by tests/lab/build-k3s.sh

if __name__ == '__main__':
    name = os.path.basename(sys.argv[0])
    sys.exit(main([name] + sys.argv[1:] if name in ('kubectl', 'crictl', 'ctr') else sys.argv[1:]))
