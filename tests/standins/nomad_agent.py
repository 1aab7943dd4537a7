# Copyright (c) 2026 brmartin.k3s_migration contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""STAND-IN for a HashiCorp Nomad client agent and a Consul agent on a lab node.

Nomad and Consul cannot be installed on the test machines, so the lab runs this
instead. It implements only the documented read-only subset of their HTTP APIs that
brmartin.k3s_migration calls, with the documented field names, and holds the ports
those agents and their workloads hold. It is never installed by the product roles.

Nomad HTTP API (https://developer.hashicorp.com/nomad/api-docs), on --nomad-port (4646):
  GET /v1/agent/self            config.Client.{Enabled,MinDynamicPort,MaxDynamicPort,
                                Reserved.ReservedPorts,BridgeNetworkSubnet,BridgeNetworkName},
                                config.NodeName, member.Name, stats.client.node_id
  GET /v1/status/leader         "ip:4647"
  GET /v1/jobs                  [{ID, Name, Namespace, Type, Status, Datacenters}]
  GET /v1/job/<id>/allocations  [{ID, JobID, Namespace, TaskGroup, NodeID, NodeName, ClientStatus}]
  GET /v1/allocations?resources=true
                                as above plus AllocatedResources.Shared.Ports
                                [{Label, Value, To, HostIP}]
  The three job/allocation endpoints take ?namespace= (default "default"; "*" is every
  namespace), as Nomad's do. With --acl-token, every path but /v1/status/leader answers
  403 "Permission denied" unless X-Nomad-Token carries that token (Nomad with ACLs on);
  --acl-read-token is a token without node:write (its POSTs answer 403).
  This node only (its own ID):
  GET  /v1/node/<id>            {ID, Name, Status, SchedulingEligibility, DrainStrategy}
  GET  /v1/node/<id>/allocations  the node's allocations, with JobType
  POST /v1/node/<id>/drain      {DrainSpec: {Deadline, IgnoreSystemJobs} | null, MarkEligible}:
                                ineligible at once; after --drain-seconds the node's
                                allocations of non-system jobs are stopped (ClientStatus
                                "complete", DesiredStatus "stop": moved away) and
                                DrainStrategy goes back to null, as Nomad's drainer does.
                                DrainSpec null cancels; MarkEligible makes it eligible.
  POST /v1/node/<id>/eligibility  {Eligibility: "eligible" | "ineligible"}
  With --call-log, each POST is appended there as one JSON line {time, method, path, body}.
Consul HTTP API (https://developer.hashicorp.com/consul/api-docs), on --consul-port (8500):
  GET /v1/agent/self            Config.{Datacenter,NodeName}, DebugConfig.DNSPort
  GET /v1/catalog/services      {name: [tags]}
Consul DNS on --dns-port (8600, UDP): A records for <service>.service.consul (RFC 1035),
  NXDOMAIN otherwise.
--tcp PORTS opens plain listeners standing for workloads on Nomad static host ports.
(The edge Traefik on hestia is a real Traefik: tests/lab/nomad_like_host.sh.)

Jobs and allocations come from a JSON fixture (--jobs) shared by all lab nodes, so
every node's agent reports the same cluster. Any other path answers 404 as Nomad does.
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def node_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name + '.nomad.lab'))


class Cluster:
    def __init__(self, fixture: dict, args: argparse.Namespace):
        self.args = args
        self.jobs = fixture.get('jobs', [])
        self.services = fixture.get('consul_services', {})
        self.node_id = node_id(args.node_name)
        self.eligibility = 'eligible'
        self.drain_strategy = None
        self.stopped = set()  # allocation IDs a drain moved off this node
        self.lock = threading.Lock()

    def agent_self(self) -> dict:
        a = self.args
        return {
            'config': {
                'NodeName': a.node_name,
                'Datacenter': 'dc1',
                'Client': {
                    'Enabled': True,
                    'MinDynamicPort': a.min_dynamic_port,
                    'MaxDynamicPort': a.max_dynamic_port,
                    'Reserved': {'ReservedPorts': a.reserved_ports},
                    'BridgeNetworkSubnet': a.bridge_subnet,
                    'BridgeNetworkName': 'nomad',
                },
            },
            'member': {'Name': a.node_name + '.global', 'Addr': a.address, 'Port': 4648},
            'stats': {'client': {'node_id': node_id(a.node_name), 'known_servers': a.address + ':4647'}},
        }

    @staticmethod
    def in_namespace(job: dict, namespace: str) -> bool:
        return namespace == '*' or job.get('namespace', 'default') == namespace

    def job_stubs(self, namespace: str = 'default') -> list:
        return [{'ID': j['id'], 'Name': j['id'], 'Namespace': j.get('namespace', 'default'),
                 'Type': j.get('type', 'service'), 'Status': 'running', 'Datacenters': ['dc1']}
                for j in self.jobs if self.in_namespace(j, namespace)]

    def allocations(self, job: str | None = None, resources: bool = False, namespace: str = 'default') -> list:
        out = []
        for j in self.jobs:
            if (job is not None and j['id'] != job) or not self.in_namespace(j, namespace):
                continue
            for group in j.get('groups', []):
                alloc = {
                    'ID': str(uuid.uuid5(uuid.NAMESPACE_URL, '%s/%s/%s' % (j['id'], group['name'], group['node']))),
                    'JobID': j['id'], 'Namespace': j.get('namespace', 'default'), 'TaskGroup': group['name'], 'Name': '%s.%s[0]' % (j['id'], group['name']),
                    'NodeID': node_id(group['node']), 'NodeName': group['node'], 'JobType': j.get('type', 'service'),
                    'ClientStatus': 'running', 'DesiredStatus': 'run',
                }
                if alloc['ID'] in self.stopped:
                    alloc.update(ClientStatus='complete', DesiredStatus='stop')
                if resources:
                    alloc['AllocatedResources'] = {'Shared': {'Ports': [
                        {'Label': p['label'], 'Value': p['value'], 'To': p.get('to', 0), 'HostIP': self.args.address}
                        for p in group.get('ports', [])]}}
                out.append(alloc)
        return out

    def node(self) -> dict:
        return {'ID': self.node_id, 'Name': self.args.node_name, 'Status': 'ready',
                'SchedulingEligibility': self.eligibility, 'DrainStrategy': self.drain_strategy,
                'Drain': self.drain_strategy is not None}

    def node_allocations(self) -> list:
        return [a for a in self.allocations(namespace='*') if a['NodeID'] == self.node_id]

    def drain(self, body: dict) -> dict:
        spec = body.get('DrainSpec')
        with self.lock:
            if spec:
                self.drain_strategy = {'Deadline': spec.get('Deadline', 0),
                                       'IgnoreSystemJobs': bool(spec.get('IgnoreSystemJobs'))}
                self.eligibility = 'ineligible'
                threading.Timer(self.args.drain_seconds, self._drained, args=(self.drain_strategy,)).start()
            else:
                self.drain_strategy = None
                if body.get('MarkEligible'):
                    self.eligibility = 'eligible'
        return {'EvalIDs': [], 'EvalCreateIndex': 0, 'NodeModifyIndex': 1}

    def _drained(self, strategy: dict) -> None:
        with self.lock:
            if self.drain_strategy is not strategy:  # cancelled or replaced meanwhile
                return
            for alloc in self.node_allocations():
                if not (strategy['IgnoreSystemJobs'] and alloc['JobType'] in ('system', 'sysbatch')):
                    self.stopped.add(alloc['ID'])
            self.drain_strategy = None

    def set_eligibility(self, body: dict) -> dict:
        with self.lock:
            self.eligibility = 'eligible' if body.get('Eligibility') == 'eligible' else 'ineligible'
        return {'EvalIDs': [], 'EvalCreateIndex': 0, 'NodeModifyIndex': 1}


def make_handler(cluster: Cluster, kind: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = 'lab-standin'

        def log_message(self, fmt, *args):  # keep the journal quiet
            pass

        def _send(self, code: int, body) -> None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _allowed(self, path: str, write: bool) -> bool:
            a = cluster.args
            if not a.acl_token or path == '/v1/status/leader':
                return True
            given = self.headers.get('X-Nomad-Token')
            return given == a.acl_token or (not write and bool(a.acl_read_token) and given == a.acl_read_token)

        def do_POST(self):  # noqa: N802 (http.server naming)
            path = urlparse(self.path).path
            length = int(self.headers.get('Content-Length') or 0)
            try:
                body = json.loads(self.rfile.read(length) or b'{}')
            except ValueError:
                return self._send(400, b'Request decode failed')
            if kind != 'nomad':
                return self._send(405, b'Invalid method\n')
            if not self._allowed(path, write=True):
                return self._send(403, b'Permission denied')
            prefix = '/v1/node/%s/' % cluster.node_id
            if not path.startswith(prefix) or path[len(prefix):] not in ('drain', 'eligibility'):
                return self._send(404, b'Invalid URL path\n')
            if cluster.args.call_log:
                with open(cluster.args.call_log, 'a', encoding='utf-8') as log:
                    log.write(json.dumps({'time': time.time(), 'method': 'POST', 'path': path, 'body': body}) + '\n')
            if path.endswith('/drain'):
                return self._send(200, cluster.drain(body))
            return self._send(200, cluster.set_eligibility(body))

        def do_GET(self):  # noqa: N802 (http.server naming)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            path = url.path
            namespace = (query.get('namespace') or ['default'])[0]
            if kind == 'nomad':
                if not self._allowed(path, write=False):
                    return self._send(403, b'Permission denied')
                if path == '/v1/node/%s' % cluster.node_id:
                    return self._send(200, cluster.node())
                if path == '/v1/node/%s/allocations' % cluster.node_id:
                    return self._send(200, cluster.node_allocations())
                if path == '/v1/agent/self':
                    return self._send(200, cluster.agent_self())
                if path == '/v1/status/leader':
                    return self._send(200, '%s:4647' % cluster.args.address)
                if path == '/v1/jobs':
                    return self._send(200, cluster.job_stubs(namespace))
                if path.startswith('/v1/job/') and path.endswith('/allocations'):
                    job = unquote(path[len('/v1/job/'):-len('/allocations')])
                    if job not in [j['id'] for j in cluster.jobs if cluster.in_namespace(j, namespace)]:
                        return self._send(404, b'job not found')
                    return self._send(200, cluster.allocations(job, namespace=namespace))
                if path == '/v1/allocations':
                    return self._send(200, cluster.allocations(resources=query.get('resources') == ['true'],
                                                               namespace=namespace))
            if kind == 'consul':
                if path == '/v1/agent/self':
                    return self._send(200, {'Config': {'Datacenter': 'dc1', 'NodeName': cluster.args.node_name},
                                            'DebugConfig': {'DNSPort': cluster.args.dns_port}})
                if path == '/v1/catalog/services':
                    return self._send(200, cluster.services)
            return self._send(404, b'Invalid URL path\n')

    return Handler


def dns_answer(query: bytes, address: str, services: dict) -> bytes:
    """Answer an RFC 1035 A query for <service>.service.consul; NXDOMAIN otherwise."""
    if len(query) < 12:
        return b''
    ident, _flags, qdcount = struct.unpack('!HHH', query[:6])
    pos, labels = 12, []
    while pos < len(query) and query[pos] != 0:
        length = query[pos]
        labels.append(query[pos + 1:pos + 1 + length].decode('ascii', 'replace').lower())
        pos += 1 + length
    question = query[12:pos + 5]
    qtype = struct.unpack('!H', query[pos + 1:pos + 3])[0] if pos + 3 <= len(query) else 0
    found = len(labels) == 3 and labels[1:] == ['service', 'consul'] and labels[0] in services
    if not found:
        return struct.pack('!HHHHHH', ident, 0x8183, qdcount, 0, 0, 0) + question
    if qtype != 1:
        return struct.pack('!HHHHHH', ident, 0x8180, qdcount, 0, 0, 0) + question
    answer = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 0, 4) + socket.inet_aton(address)
    return struct.pack('!HHHHHH', ident, 0x8180, qdcount, 1, 0, 0) + question + answer


IP_PKTINFO = getattr(socket, 'IP_PKTINFO', 8)  # Linux <linux/in.h>; Python 3.11 lacks the name


def serve_dns(port: int, cluster: Cluster) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Reply from the address the query was sent to (IP_PKTINFO), as Consul's DNS server
    # does: a pod on this node asks the node address, and a reply sourced from cni0's
    # address would be dropped by the resolver.
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.bind(('0.0.0.0', port))
    while True:
        data, ancdata, _flags, peer = sock.recvmsg(512, socket.CMSG_SPACE(12))
        reply = dns_answer(data, cluster.args.address, cluster.services)
        if not reply:
            continue
        pktinfo = [d for level, kind, d in ancdata if level == socket.IPPROTO_IP and kind == IP_PKTINFO]
        if pktinfo:  # struct in_pktinfo {ifindex; spec_dst; addr}: answer from addr, any interface
            info = b'\0\0\0\0' + pktinfo[0][8:12] + b'\0\0\0\0'
            sock.sendmsg([reply], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, peer)
        else:
            sock.sendto(reply, peer)


class _Silent(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            self.request.sendall(b'')
        except OSError:
            pass


def serve_http(port: int, handler) -> None:
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(('0.0.0.0', port), handler).serve_forever()


def serve_tcp(port: int) -> None:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(('0.0.0.0', port), _Silent).serve_forever()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--node-name', default=socket.gethostname())
    p.add_argument('--address', default='127.0.0.1')
    p.add_argument('--jobs', help='JSON fixture with jobs and consul_services')
    p.add_argument('--nomad-port', type=int, default=0)
    p.add_argument('--consul-port', type=int, default=0)
    p.add_argument('--dns-port', type=int, default=0)
    p.add_argument('--min-dynamic-port', type=int, default=20000)
    p.add_argument('--max-dynamic-port', type=int, default=32000)
    p.add_argument('--reserved-ports', default='')
    p.add_argument('--bridge-subnet', default='172.26.64.0/20')
    p.add_argument('--tcp', default='', help='comma-separated plain TCP ports')
    p.add_argument('--acl-token', default='', help='answer 403 unless X-Nomad-Token is this')
    p.add_argument('--acl-read-token', default='', help='a token that reads but may not write (no node:write)')
    p.add_argument('--drain-seconds', type=float, default=1.0, help='how long a drain takes to move allocations')
    p.add_argument('--call-log', default='', help='append each POST here as a JSON line')
    args = p.parse_args(argv)
    fixture = {}
    if args.jobs:
        with open(args.jobs, encoding='utf-8') as handle:
            fixture = json.load(handle)
    cluster = Cluster(fixture, args)
    threads = []
    if args.nomad_port:
        threads.append(threading.Thread(target=serve_http, args=(args.nomad_port, make_handler(cluster, 'nomad'))))
    if args.consul_port:
        threads.append(threading.Thread(target=serve_http, args=(args.consul_port, make_handler(cluster, 'consul'))))
    if args.dns_port:
        threads.append(threading.Thread(target=serve_dns, args=(args.dns_port, cluster)))
    for port in [int(x) for x in args.tcp.split(',') if x]:
        threads.append(threading.Thread(target=serve_tcp, args=(port,)))
    if not threads:
        p.error('nothing to serve')
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == '__main__':
    sys.exit(main())
