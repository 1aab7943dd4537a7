# Copyright (c) 2026 brmartin.k3s_migration contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""STAND-IN for the K3s binary, used only by the lab (tests/lab/prepare-airgap.sh puts
it in an airgap directory under the release's artifact names). K3s cannot be downloaded
on the test machines. It implements only the contract the k3s role relies on:

- `k3s --version`  prints `k3s version <v> (<commit>)` (docs.k3s.io/cli).
- `k3s server` / `k3s agent` read /etc/rancher/k3s/config.yaml and config.yaml.d/*.yaml
  (docs.k3s.io/installation/configuration#configuration-file), flags override the file.
  Server: writes /var/lib/rancher/k3s/server/token (0600) once, or uses `token:`; with
  `cluster-init: true` initialises embedded etcd only when no datastore exists yet;
  with `server:` joins an existing server; writes /etc/rancher/k3s/k3s.yaml (0600,
  server https://127.0.0.1:6443); listens on 6443 and the kubelet's 10250.
  Agent: needs `server:` and `token:`, registers with the server (refused on a token
  mismatch, as K3s refuses to join), listens on 10250.
  Both create what K3s's networking creates (docs.k3s.io/networking/basic-network-options,
  and what k3s-killall.sh removes): the cni0 bridge and the flannel.1 VXLAN device
  (UDP 8472) in the node's 10.42.x.0/24, the flannel host-local allocation under
  /var/lib/cni/networks/cbr0, and - where iptables works - KUBE-*, FLANNEL-* chains and
  CNI chains for network "cbr0" (masquerade and a hostPort DNAT), and put the KUBE-/
  FLANNEL- rules back every 5 s when something flushed them. They notify systemd
  (Type=notify, READY=1) and run until stopped; like K3s they leave that state behind.
- `k3s kubectl get --raw /readyz` prints `ok`; `k3s kubectl get node NAME -o
  jsonpath={.status.conditions[?(@.type=="Ready")].status}` prints `True` once NAME
  has registered; `k3s kubectl get nodes -o name` lists `node/NAME`.
Nothing else of Kubernetes is implemented.
"""

import ctypes
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = 'v1.33.5+k3s1'  # replaced per artifact by tests/lab/prepare-airgap.sh
CONFIG = '/etc/rancher/k3s/config.yaml'
DATA = '/var/lib/rancher/k3s'
TOKEN = DATA + '/server/token'
NODES = DATA + '/server/nodes.json'
KUBECONFIG = '/etc/rancher/k3s/k3s.yaml'
FAKE_PEM = 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmxhYiBzdGFuZC1pbgotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=='


def parse_yaml(text):
    """The subset K3s config files use here: `key: scalar` and `key:` + `- item` lists."""
    out, key = {}, None
    for raw in text.splitlines():
        line = raw.split(' #', 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith('#') or line.strip() == '---':
            continue
        if line.lstrip().startswith('- ') and key:
            out.setdefault(key, [])
            if not isinstance(out[key], list):
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
    paths = [CONFIG] + sorted(os.path.join(CONFIG + '.d', f) for f in os.listdir(CONFIG + '.d')
                              if f.endswith(('.yaml', '.yml'))) if os.path.isdir(CONFIG + '.d') else [CONFIG]
    for path in paths:
        if os.path.exists(path):
            with open(path) as handle:
                cfg.update(parse_yaml(handle.read()))
    i = 0
    while i < len(argv):  # --flag=value / --flag value override the files
        a = argv[i]
        if a.startswith('--'):
            k, sep, v = a[2:].partition('=')
            if not sep:
                v = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith('--') else True
                i += 0 if v is True else 1
            cfg[k] = v
        i += 1
    return cfg


def write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)


def sh(cmd, check=False):
    return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=check).returncode


def set_process_name(name):
    try:
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME: what ss shows
    except (OSError, AttributeError):
        pass


def notify(state):
    addr = os.environ.get('NOTIFY_SOCKET')
    if not addr:
        return
    if addr.startswith('@'):
        addr = '\0' + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(state.encode())


def node_index(name):
    return 1 + int(hashlib.sha256(name.encode()).hexdigest(), 16) % 200


def resync_rules(cfg, name):
    """Like flannel (every 5 s) and kube-proxy, put K3s's rules back after a flush
    (for instance `firewall-cmd --reload`)."""
    while True:
        threading.Event().wait(5)
        setup_network(cfg, name)


def setup_network(cfg, name):
    n = node_index(name)
    cidr = str(cfg.get('cluster-cidr', '10.42.0.0/16'))
    base = '.'.join(cidr.split('/', maxsplit=1)[0].split('.')[:2])
    if sh('ip link show cni0 >/dev/null 2>&1') != 0:
        sh('ip link add cni0 type bridge && ip addr add %s.%d.1/24 dev cni0 && ip link set cni0 up' % (base, n))
    if cfg.get('flannel-backend', 'vxlan') == 'vxlan' and sh('ip link show flannel.1 >/dev/null 2>&1') != 0:
        sh('ip link add flannel.1 type vxlan id 1 dstport 8472 nolearning dev eth0 && '
           'ip addr add %s.%d.0/32 dev flannel.1 && ip link set flannel.1 up' % (base, n))
    pod = '%s.%d.2' % (base, n)
    write('/var/lib/cni/networks/cbr0/%s' % pod, 'f00dfeed%s\r\neth0' % n, 0o644)
    write('/var/lib/cni/networks/cbr0/last_reserved_ip.0', pod, 0o644)
    if sh('iptables-save >/dev/null 2>&1') != 0:
        return  # no netfilter here (emulated arm64): K3s would fail; the stand-in carries on
    if sh('iptables -t nat -S KUBE-POSTROUTING >/dev/null 2>&1') == 0:
        return
    rules = """*mangle
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-IPTABLES-HINT - [0:0]
COMMIT
*filter
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:FLANNEL-FWD - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A FLANNEL-FWD -s {cidr} -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d {cidr} -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:FLANNEL-POSTRTG - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-0b1c2d3e4f5a6b7c8d9e0f1a - [0:0]
:CNI-DN-0b1c2d3e4f5a6b7c8d9e0 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -s {pod}/32 -m comment --comment "name: \\"cbr0\\" id: \\"f00dfeed\\"" -j CNI-0b1c2d3e4f5a6b7c8d9e0f1a
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A FLANNEL-POSTRTG -s {cidr} ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A CNI-0b1c2d3e4f5a6b7c8d9e0f1a -d {base}.{n}.0/24 -m comment --comment "name: \\"cbr0\\" id: \\"f00dfeed\\"" -j ACCEPT
-A CNI-0b1c2d3e4f5a6b7c8d9e0f1a ! -d 224.0.0.0/4 -m comment --comment "name: \\"cbr0\\" id: \\"f00dfeed\\"" \
-j MASQUERADE
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"cbr0\\" id: \\"f00dfeed\\"" -m multiport --dports 8443 -j CNI-DN-0b1c2d3e4f5a6b7c8d9e0
-A CNI-DN-0b1c2d3e4f5a6b7c8d9e0 -p tcp -m tcp --dport 8443 -j DNAT --to-destination {pod}:8443
COMMIT
""".format(cidr=cidr, pod=pod, base=base, n=n)
    # CNI-HOSTPORT-DNAT may already exist (Nomad's portmap): declare it only when missing.
    if sh('iptables -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1') == 0:
        rules = rules.replace(':CNI-HOSTPORT-DNAT - [0:0]\n', '')
    else:
        rules = rules.replace('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n',
                              '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
                              '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n')
    p = subprocess.run(['iptables-restore', '--noflush'], input=rules.encode(), stderr=subprocess.PIPE, check=False)
    if p.returncode:
        sys.stderr.write('iptables-restore: %s\n' % p.stderr.decode())


class Registry:
    lock = threading.Lock()

    @staticmethod
    def load():
        try:
            with open(NODES) as handle:
                return json.load(handle)
        except (IOError, ValueError):
            return {}

    @classmethod
    def add(cls, name, role):
        with cls.lock:
            nodes = cls.load()
            nodes[name] = role
            write(NODES, json.dumps(nodes, sort_keys=True), 0o600)


def make_handler(token):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body):
            data = body.encode()
            self.send_response(code)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            if self.path in ('/readyz', '/healthz', '/ping'):
                return self._send(200, 'ok')
            return self._send(404, 'not found')

        def do_POST(self):  # noqa: N802
            if self.path != '/v1-k3s/register':
                return self._send(404, 'not found')
            body = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))) or b'{}')
            if body.get('token') != token:
                return self._send(401, 'token mismatch')
            Registry.add(body['node'], body['role'])
            return self._send(200, 'registered')

    return Handler


def listen(port, handler=None):
    if handler is None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(('0.0.0.0', port))
        srv.listen(16)
        threading.Thread(target=lambda: [c.close() for c, _a in iter(srv.accept, None)], daemon=True).start()
        return
    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer(('0.0.0.0', port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()


def register(server, token, name, role):
    url = server.rstrip('/').replace('https://', 'http://') + '/v1-k3s/register'
    req = urllib.request.Request(url, data=json.dumps({'token': token, 'node': name, 'role': role}).encode(),
                                 method='POST')
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except urllib.error.HTTPError as exc:
        raise SystemExit('level=fatal msg="failed to join %s: %s %s"' % (server, exc.code, exc.read().decode()))
    except OSError as exc:
        raise SystemExit('level=fatal msg="cannot reach server %s: %s"' % (server, exc))


def run_server(argv):
    cfg = load_config(argv)
    name = str(cfg.get('node-name') or socket.gethostname())
    set_process_name('k3s-server')
    token = cfg.get('token')
    if not token and cfg.get('token-file'):
        with open(str(cfg['token-file'])) as handle:
            token = handle.read().strip()
    if cfg.get('server'):
        if not token:
            raise SystemExit('level=fatal msg="joining a server requires a token"')
        register(str(cfg['server']), token, name, 'server')
        os.makedirs(DATA + '/server/db/etcd', exist_ok=True)
    else:
        if not os.path.exists(TOKEN):
            token = token or 'K10%s::server:%s' % (hashlib.sha256(os.urandom(16)).hexdigest(), secrets.token_hex(16))
            write(TOKEN, token + '\n')
        with open(TOKEN) as handle:
            token = handle.read().strip()
        if cfg.get('cluster-init') in (True, 'true') and not os.path.isdir(DATA + '/server/db/etcd'):
            os.makedirs(DATA + '/server/db/etcd')
            with open(DATA + '/server/db/cluster-init.log', 'a') as handle:
                handle.write('cluster initialised\n')
        Registry.add(name, 'server')
    write(TOKEN, token + '\n')
    write(KUBECONFIG, """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {pem}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
users:
- name: default
  user:
    client-certificate-data: {pem}
    client-key-data: {pem}
""".format(pem=FAKE_PEM), int(str(cfg.get('write-kubeconfig-mode', '0600')), 8))
    setup_network(cfg, name)
    threading.Thread(target=resync_rules, args=(cfg, name), daemon=True).start()
    listen(6443, make_handler(token))
    listen(10250)
    notify('READY=1')
    threading.Event().wait()


def run_agent(argv):
    cfg = load_config(argv)
    name = str(cfg.get('node-name') or socket.gethostname())
    set_process_name('k3s-agent')
    if not cfg.get('server') or not cfg.get('token'):
        raise SystemExit('level=fatal msg="--server and --token are required for an agent"')
    register(str(cfg['server']), str(cfg['token']), name, 'agent')
    setup_network(cfg, name)
    threading.Thread(target=resync_rules, args=(cfg, name), daemon=True).start()
    listen(10250)
    notify('READY=1')
    threading.Event().wait()


def kubectl(argv):
    if argv[:3] == ['get', '--raw', '/readyz']:
        print('ok')
        return 0
    nodes = Registry.load()
    if argv[:2] == ['get', 'nodes']:
        for n in sorted(nodes):
            print('node/%s' % n)
        return 0
    if argv[:2] == ['get', 'node'] and len(argv) > 2:
        if argv[2] not in nodes:
            sys.stderr.write('Error from server (NotFound): nodes "%s" not found\n' % argv[2])
            return 1
        print('True', end='')
        return 0
    sys.stderr.write('stand-in kubectl: unsupported: %s\n' % ' '.join(argv))
    return 1


def main(argv):
    if not argv or argv[0] in ('--version', '-v', 'version', '-version'):
        print('k3s version %s (standin0)\ngo version go1.24 (lab stand-in)' % VERSION)
        return 0
    if argv[0] == 'server':
        return run_server(argv[1:])
    if argv[0] == 'agent':
        return run_agent(argv[1:])
    if argv[0] == 'kubectl':
        return kubectl(argv[1:])
    sys.stderr.write('stand-in k3s: unsupported command %s\n' % argv[0])
    return 1


if __name__ == '__main__':
    sys.exit(main([os.path.basename(sys.argv[0])] + sys.argv[1:] if os.path.basename(sys.argv[0]) == 'kubectl'
                  else sys.argv[1:]))
