# Copyright (c) 2026 brmartin.k3s_migration contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""STAND-IN for the K3s binary on the lab's emulated arm64 nodes only (k3s-arm64,
k3s-armhf in the lab's airgap directories, tests/lab/prepare-airgap.sh). The lab builds
no arm64 Kubernetes, and qemu-user emulates no netfilter, so kube-proxy and flannel
could not run there anyway (README, "The lab"). The amd64 `k3s` is the real programs
(tests/lab/build-k3s.sh). This stand-in implements only the contract the k3s role relies
on, against the lab's real K3s server:

- `k3s --version`  prints `k3s version <v> (<commit>)` (docs.k3s.io/cli).
- `k3s agent` / `k3s server` with `server:` read /etc/rancher/k3s/config.yaml and
  config.yaml.d/*.yaml (docs.k3s.io/installation/configuration#configuration-file),
  flags override the file; both need `server:` and `token:`. Like K3s, they check the
  server's CA against the token's hash (`K10<sha256>::...`), authenticate with the
  token, and retry for ever (logging K3s-style errors) while either fails. Then they
  register a Node object in the real API (labels kubernetes.io/arch=arm64 and
  k3s-migration.lab/stand-in=true, taint k3s-migration.lab/stand-in=true:NoSchedule so
  nothing is scheduled where no kubelet runs) and renew its lease and Ready condition
  every 10 s. A server stand-in also makes /var/lib/rancher/k3s/server/db/etcd and the
  token file; it runs no etcd member.
- Both create what K3s's networking creates (docs.k3s.io/networking/basic-network-options,
  and what k3s-killall.sh removes): the cni0 bridge and the flannel.1 VXLAN device
  (UDP 8472) in the node's 10.42.x.0/24 and the flannel host-local allocation under
  /var/lib/cni/networks/cbr0 (and, where iptables works, KUBE-*, FLANNEL-* and cbr0 CNI
  chains, put back every 5 s after a flush). They notify systemd (Type=notify, READY=1)
  and listen on 10250 (servers also 6443) until stopped; like K3s they leave that state.
- `k3s kubectl get --raw /readyz` prints `ok` once joined, and
  `k3s kubectl [--kubeconfig F] get node <name> -o jsonpath=...Ready...` prints `True`.
Nothing else of Kubernetes is implemented.
"""

import ctypes
import datetime
import hashlib
import json
import os
import platform
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

VERSION = 'v1.33.5+k3s1'  # replaced per artifact by tests/lab/prepare-airgap.sh
CONFIG = '/etc/rancher/k3s/config.yaml'
DATA = '/var/lib/rancher/k3s'
TOKEN = DATA + '/server/token'
JOINED = '/run/k3s-standin.joined'
ARCH = {'aarch64': 'arm64', 'arm64': 'arm64', 'armv7l': 'arm', 'x86_64': 'amd64'}


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


def log(level, msg):
    stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    sys.stderr.write('time="%s" level=%s msg="%s"\n' % (stamp, level, msg.replace('"', '\\"')))
    sys.stderr.flush()


def api(server, path, token=None, cadata=None, method='GET', body=None, content_type='application/json'):
    ctx = ssl.create_default_context(cadata=cadata) if cadata else ssl._create_unverified_context()  # noqa: S323
    req = urllib.request.Request(server.rstrip('/') + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header('Accept', 'application/json')
    req.add_header('Content-Type', content_type)
    if token:
        req.add_header('Authorization', 'Bearer ' + token)
    with urllib.request.urlopen(req, timeout=15, context=ctx) as resp:
        return json.loads(resp.read() or b'{}')


def bootstrap_token(token):
    """The bootstrap token the lab's K3s server made from the K3s token (tests/lab/k3s)."""
    m = re.fullmatch(r'(?:K10([0-9a-f]{64})::[^:]+:)?(.+)', token)
    ca_hash, secret_part = m.group(1), m.group(2)
    if not re.fullmatch(r'[a-z0-9]{6}\.[a-z0-9]{16}', secret_part):
        h = hashlib.sha256(secret_part.encode()).hexdigest()
        secret_part = '%s.%s' % (h[:6], h[6:22])
    return ca_hash, secret_part


def join(server, token):
    """Like K3s: pin the CA by the token's hash, prove the token, retry for ever."""
    ca_hash, bearer = bootstrap_token(token)
    while True:
        try:
            info = api(server, '/api/v1/namespaces/kube-public/configmaps/cluster-info')
            ca = info['data']['ca.crt']
            if ca_hash and hashlib.sha256(ca.encode()).hexdigest() != ca_hash:
                raise ValueError('token CA hash does not match the Cluster CA certificate hash')
            api(server, '/api/v1/namespaces/kube-system/configmaps/k3s-lab-join', token=bearer, cadata=ca)
            return ca, bearer
        except urllib.error.HTTPError as exc:
            log('error', 'Failed to validate connection to cluster at %s: %s %s' % (
                server, exc.code, exc.read().decode(errors='replace').strip()[:200]))
        except (OSError, ValueError, KeyError) as exc:
            log('error', 'failed to get CA certs: %s: %s' % (server, exc))
        time.sleep(5)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def node_ip(cfg):
    if cfg.get('node-ip'):
        return str(cfg['node-ip'])
    out = subprocess.run(['ip', '-4', 'route', 'get', '1.1.1.1'], stdout=subprocess.PIPE, text=True,
                         check=False).stdout
    m = re.search(r'\bsrc (\S+)', out)
    return m.group(1) if m else '127.0.0.1'


def register(server, ca, bearer, name, role, cfg):
    arch = ARCH.get(platform.machine(), platform.machine())
    labels = {'kubernetes.io/arch': arch, 'beta.kubernetes.io/arch': arch, 'kubernetes.io/os': 'linux',
              'beta.kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name,
              'k3s-migration.lab/stand-in': 'true'}
    for item in cfg.get('node-label') or []:
        k, _sep, v = str(item).partition('=')
        labels[k] = v
    if role == 'server':
        labels.update({'node-role.kubernetes.io/control-plane': 'true', 'node-role.kubernetes.io/master': 'true',
                       'node-role.kubernetes.io/etcd': 'true'})
    node = {'apiVersion': 'v1', 'kind': 'Node', 'metadata': {'name': name, 'labels': labels},
            'spec': {'taints': [{'key': 'k3s-migration.lab/stand-in', 'value': 'true', 'effect': 'NoSchedule'}]}}
    try:
        api(server, '/api/v1/nodes', token=bearer, cadata=ca, method='POST', body=node)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
        api(server, '/api/v1/nodes/' + name, token=bearer, cadata=ca, method='PATCH',
            body={'metadata': {'labels': labels}}, content_type='application/merge-patch+json')
    ip = node_ip(cfg)

    def heartbeat():
        status = {'status': {
            'addresses': [{'type': 'InternalIP', 'address': ip}, {'type': 'Hostname', 'address': name}],
            'nodeInfo': {'architecture': arch, 'operatingSystem': 'linux', 'kubeletVersion': VERSION,
                         'kubeProxyVersion': VERSION, 'containerRuntimeVersion': 'none://lab-stand-in',
                         'osImage': 'lab stand-in (no kubelet)', 'kernelVersion': platform.release(),
                         'machineID': '', 'systemUUID': '', 'bootID': ''},
            'capacity': {'cpu': '1', 'memory': '1Gi', 'pods': '0'},
            'allocatable': {'cpu': '1', 'memory': '1Gi', 'pods': '0'},
            'conditions': [{'type': 'Ready', 'status': 'True', 'reason': 'LabStandIn',
                            'message': 'lab stand-in: registered, no kubelet', 'lastHeartbeatTime': now(),
                            'lastTransitionTime': now()}]}}
        api(server, '/api/v1/nodes/%s/status' % name, token=bearer, cadata=ca, method='PATCH', body=status,
            content_type='application/strategic-merge-patch+json')
        lease = {'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease',
                 'metadata': {'name': name, 'namespace': 'kube-node-lease'},
                 'spec': {'holderIdentity': name, 'leaseDurationSeconds': 40,
                          'renewTime': datetime.datetime.now(datetime.timezone.utc).strftime(
                              '%Y-%m-%dT%H:%M:%S.000000Z')}}
        try:
            api(server, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', token=bearer, cadata=ca,
                method='POST', body=lease)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            api(server, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/' + name, token=bearer,
                cadata=ca, method='PATCH', body={'spec': lease['spec']}, content_type='application/merge-patch+json')

    heartbeat()

    def loop():
        while True:
            time.sleep(10)
            try:
                heartbeat()
            except (OSError, ValueError) as exc:
                log('error', 'heartbeat failed: %s' % exc)
    threading.Thread(target=loop, daemon=True).start()


def listen(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('0.0.0.0', port))
    srv.listen(16)
    threading.Thread(target=lambda: [c.close() for c, _a in iter(srv.accept, None)], daemon=True).start()


def run(argv, role):
    cfg = load_config(argv)
    name = str(cfg.get('node-name') or socket.gethostname()).lower()
    set_process_name('k3s-' + role)
    token = cfg.get('token')
    if not token and cfg.get('token-file'):
        with open(str(cfg['token-file'])) as handle:
            token = handle.read().strip()
    if not cfg.get('server') or not token:
        raise SystemExit('level=fatal msg="the lab\'s arm64 K3s stand-in needs server: and token: (it only joins '
                         'a real K3s server)"')
    ca, bearer = join(str(cfg['server']), str(token))
    register(str(cfg['server']), ca, bearer, name, role, cfg)
    if role == 'server':
        os.makedirs(DATA + '/server/db/etcd', exist_ok=True)
        write(TOKEN, str(token) + '\n')
        listen(6443)
    write(JOINED, str(cfg['server']) + '\n', 0o644)
    setup_network(cfg, name)
    threading.Thread(target=resync_rules, args=(cfg, name), daemon=True).start()
    listen(10250)
    notify('READY=1')
    threading.Event().wait()


def kubectl(argv):
    if argv[:1] == ['--kubeconfig']:
        argv = argv[2:]
    if argv[:3] == ['get', '--raw', '/readyz'] and os.path.exists(JOINED):
        print('ok')
        return 0
    # The node's own Ready condition, which the stand-in keeps True in the real API once
    # joined (the k3s role asks with the kubelet's kubeconfig after a start).
    if argv[:2] == ['get', 'node'] and 'jsonpath' in ' '.join(argv) and os.path.exists(JOINED):
        print('True')
        return 0
    sys.stderr.write('the lab\'s arm64 K3s stand-in has no kubectl (%s); use the server\'s\n' % ' '.join(argv))
    return 1


def main(argv):
    if not argv or argv[0] in ('--version', '-v', 'version', '-version'):
        print('k3s version %s (standin0)\ngo version go1.24 (lab stand-in)' % VERSION)
        return 0
    if argv[0] in ('server', 'agent'):
        return run(argv[1:], argv[0])
    if argv[0] == 'kubectl':
        return kubectl(argv[1:])
    sys.stderr.write('stand-in k3s: unsupported command %s\n' % argv[0])
    return 1


if __name__ == '__main__':
    sys.exit(main([os.path.basename(sys.argv[0])] + sys.argv[1:] if os.path.basename(sys.argv[0]) == 'kubectl'
                  else sys.argv[1:]))
