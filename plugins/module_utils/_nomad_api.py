# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only client for the parts of the Nomad HTTP API this collection relies on.

Endpoints (https://developer.hashicorp.com/nomad/api-docs): ``GET /v1/agent/self``,
``GET /v1/status/leader``, ``GET /v1/jobs``, ``GET /v1/job/:id/allocations`` and
``GET /v1/allocations?resources=true``; jobs and allocations of every namespace
(``namespace=*``). A 403 is its own error (NomadForbidden), naming the ACL capability the
token lacks. The reads are all GET; the only writes are the node drain and eligibility
calls (``GET /v1/node/:id``, ``GET /v1/node/:id/allocations``, ``POST
/v1/node/:id/drain``, ``POST /v1/node/:id/eligibility``), used by nomad_node_drain alone.
"""

from __future__ import annotations

import json
import os
from typing import Callable
from urllib.parse import quote

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse

# Nomad's defaults when the client stanza leaves them unset.
DEFAULT_MIN_DYNAMIC_PORT = 20000
DEFAULT_MAX_DYNAMIC_PORT = 32000
DEFAULT_BRIDGE_SUBNET = '172.26.64.0/20'

# Shared argument spec; documented by the brmartin.k3s_migration.nomad doc fragment.
NOMAD_ARGSPEC = dict(
    nomad_addr=dict(type='str', default='http://127.0.0.1:4646'),
    nomad_token=dict(type='str', no_log=True),
    nomad_ca_cert=dict(type='path'),
    nomad_validate_certs=dict(type='bool', default=True),
    nomad_timeout=dict(type='int', default=10),
)


class NomadError(Exception):
    """The Nomad API could not be reached or answered with an error."""


class NomadForbidden(NomadError):
    """The Nomad API answered 403: ACLs are on and the token lacks a capability."""


def _capability(path: str, method: str = 'GET') -> str:
    if path.startswith('/v1/agent/'):
        return 'agent:read'
    if path.startswith('/v1/node/'):
        return 'node:write' if method == 'POST' else 'node:read'
    return 'namespace:read-job on every namespace (namespace "*" { capabilities = ["read-job"] })'


def token_from(params: dict) -> str | None:
    return params.get('nomad_token') or os.environ.get('NOMAD_TOKEN') or None


class NomadClient:
    def __init__(self, addr: str, token: str | None = None, ca_cert: str | None = None,
                 validate_certs: bool = True, timeout: int = 10, opener: Callable | None = None):
        self.addr = addr.rstrip('/')
        self.token = token
        self.ca_cert = ca_cert
        self.validate_certs = validate_certs
        self.timeout = timeout
        self._open = opener
        self._conn = None

    @classmethod
    def from_params(cls, params: dict) -> 'NomadClient':
        return cls(params['nomad_addr'], token_from(params), params.get('nomad_ca_cert'),
                   params.get('nomad_validate_certs', True), params.get('nomad_timeout', 10))

    def get(self, path: str):
        return self._request('GET', path)

    def post(self, path: str, body: dict):
        return self._request('POST', path, body)

    def _forbidden(self, method: str, path: str, url: str) -> 'NomadForbidden':
        wanted = _capability(path, method)
        return NomadForbidden('%s %s: 403 Forbidden: the token %s lacks %s (Nomad ACLs are on; give it a '
                              'policy with %s)'
                              % (method, url, 'given' if self.token else '(none given)', wanted,
                                 wanted if path.startswith('/v1/node/') else 'agent:read and namespace "*" read-job'))

    def _connection(self):
        """The kept-alive connection to the agent (module_utils/_http.py), or None where
        ansible's open_url is used instead: a proxy the environment names applies, or an odd
        address. Imported on the first request: host_state with a record that is kept (and
        asks nothing) does not pay for the HTTP and TLS modules."""
        from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _http  # pylint: disable=import-outside-toplevel
        if self._conn is None and _http.direct(self.addr):
            context = _http.tls_context(self.validate_certs, cafile=self.ca_cert) if self.addr.startswith('https') else None
            self._conn = _http.KeptConnection(self.addr, context, self.timeout)
        return self._conn

    def _direct(self, method: str, path: str, url: str, headers: dict, data: str | None) -> bytes:
        from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _http  # pylint: disable=import-outside-toplevel
        try:
            status, reason, body = self._conn.request(method, path, data.encode('utf-8') if data is not None else None,
                                                      headers)
        except _http.ConnectionFailed as exc:
            raise NomadError('%s %s failed: %s' % (method, url, exc))
        if status == 403:
            raise self._forbidden(method, path, url)
        if status >= 400:
            raise NomadError('%s %s failed: HTTP Error %d: %s' % (method, url, status, reason))
        return body

    def _request(self, method: str, path: str, payload: dict | None = None):
        headers = {'Accept': 'application/json'}
        if self.token:
            headers['X-Nomad-Token'] = self.token
        data = None
        if payload is not None:
            headers['Content-Type'] = 'application/json'
            data = json.dumps(payload)
        url = self.addr + path
        if self._open is None:
            try:
                direct = self._connection() is not None
            except (ValueError, OSError) as exc:  # ssl.SSLError is an OSError
                raise NomadError('%s %s failed: cannot use the CA %s: %s' % (method, url, self.ca_cert, exc))
            if direct:
                body = self._direct(method, path, url, headers, data)
                return self._decode(method, url, body)
            # Imported only here: ansible's urls module costs more to import than a kept
            # record's whole run (host_state with a record that is kept asks nothing).
            from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
            self._open = open_url
        try:
            response = self._open(url, method=method, headers=headers, data=data, timeout=self.timeout,
                                  validate_certs=self.validate_certs, ca_path=self.ca_cert)
            body = response.read()
        except Exception as exc:  # open_url raises many types: URLError, HTTPError, socket errors
            if getattr(exc, 'code', None) == 403:
                raise self._forbidden(method, path, url)
            raise NomadError('%s %s failed: %s' % (method, url, to_text(exc)))
        return self._decode(method, url, body)

    @staticmethod
    def _decode(method: str, url: str, body: bytes):
        try:
            return json.loads(to_text(body))
        except ValueError as exc:
            raise NomadError('%s %s returned invalid JSON: %s' % (method, url, exc))


def _client_config(agent_self: dict) -> dict:
    return ((agent_self or {}).get('config') or {}).get('Client') or {}


def summarize(client: NomadClient, with_allocations: bool = True) -> dict:
    """What the preflight and the workload snapshot need to know about this Nomad agent."""
    agent = client.get('/v1/agent/self')
    cfg = _client_config(agent)
    reserved = ((cfg.get('Reserved') or {}).get('ReservedPorts')) or ''
    stats_client = ((agent.get('stats') or {}).get('client')) or {}
    node_id = stats_client.get('node_id', '')
    facts = {
        'reachable': True,
        'addr': client.addr,
        'client_enabled': bool(cfg.get('Enabled')),
        'node_id': node_id,
        'node_name': (agent.get('config') or {}).get('NodeName') or (agent.get('member') or {}).get('Name', ''),
        'min_dynamic_port': int(cfg.get('MinDynamicPort') or DEFAULT_MIN_DYNAMIC_PORT),
        'max_dynamic_port': int(cfg.get('MaxDynamicPort') or DEFAULT_MAX_DYNAMIC_PORT),
        'reserved_ports': [list(r) for r in netparse.parse_port_list(reserved)],
        'bridge_subnet': cfg.get('BridgeNetworkSubnet') or DEFAULT_BRIDGE_SUBNET,
        'bridge_name': cfg.get('BridgeNetworkName') or 'nomad',
        'leader': '',
        'jobs': [],
        'host_ports': [],
    }
    try:
        facts['leader'] = client.get('/v1/status/leader') or ''
    except NomadError:
        facts['leader'] = ''
    jobs = client.get('/v1/jobs?namespace=*') or []
    for job in sorted(jobs, key=lambda j: (j.get('Namespace') or 'default', j.get('ID', ''))):
        entry = {'id': job.get('ID', ''), 'namespace': job.get('Namespace') or 'default',
                 'type': job.get('Type', ''), 'status': job.get('Status', '')}
        if with_allocations:
            allocs = client.get('/v1/job/%s/allocations?namespace=%s' % (
                quote(entry['id'], safe=''), quote(entry['namespace'], safe=''))) or []
            entry['running_allocations'] = sorted(
                a.get('TaskGroup', '') for a in allocs if a.get('ClientStatus') == 'running')
        facts['jobs'].append(entry)
    if with_allocations:
        facts['host_ports'] = allocated_host_ports(
            client.get('/v1/allocations?resources=true&namespace=*') or [], node_id)
    return facts


def allocated_host_ports(allocs: list, node_id: str) -> list[dict]:
    """Host ports held by running allocations on this node (static and dynamic)."""
    ports = []
    for alloc in allocs:
        if alloc.get('ClientStatus') != 'running' or (node_id and alloc.get('NodeID') != node_id):
            continue
        shared = ((alloc.get('AllocatedResources') or {}).get('Shared')) or {}
        for port in shared.get('Ports') or []:
            if port.get('Value'):
                ports.append({'port': int(port['Value']), 'label': port.get('Label', ''),
                              'job': alloc.get('JobID', ''), 'to': port.get('To', 0)})
    return sorted(ports, key=lambda p: (p['port'], p['job']))


def _job_key(job: dict) -> str:
    """A job's name in messages: its ID, prefixed by its namespace outside "default"
    (records written before namespaces were read have none: "default")."""
    namespace = job.get('namespace') or 'default'
    return job['id'] if namespace == 'default' else '%s/%s' % (namespace, job['id'])


def workload_differences(old: dict, new: dict) -> list:
    """One line per job or held host port that differs between two workload records."""
    lines = []
    before = dict((_job_key(j), j) for j in old['jobs'])
    after = dict((_job_key(j), j) for j in new['jobs'])

    def same(a, b):
        return dict(a, namespace=a.get('namespace') or 'default') == dict(b, namespace=b.get('namespace') or 'default')

    for job in sorted(set(before) | set(after)):
        if job not in after:
            lines.append('job %s: gone' % job)
        elif job not in before:
            lines.append('job %s: new' % job)
        elif not same(before[job], after[job]):
            lines.append('job %s: %s -> %s' % (job, before[job], after[job]))
    old_ports = sorted((p['port'], p['job']) for p in old['host_ports'])
    new_ports = sorted((p['port'], p['job']) for p in new['host_ports'])
    if old_ports != new_ports:
        lines.append('host ports held by allocations: %s -> %s' % (old_ports, new_ports))
    return lines


# Job types whose allocations a drain leaves in place by default (IgnoreSystemJobs) and
# that do not move: they run on every eligible node.
SYSTEM_JOB_TYPES = ('system', 'sysbatch')


def node_state(client: NomadClient, node_id: str) -> dict:
    """The node's eligibility, drain and the allocations a drain moves (service/batch, live)."""
    node = client.get('/v1/node/%s' % quote(node_id, safe=''))
    allocs = client.get('/v1/node/%s/allocations' % quote(node_id, safe='')) or []
    moving = sorted('%s/%s' % (a.get('Namespace') or 'default', a.get('Name') or a.get('ID', ''))
                    for a in allocs
                    if a.get('ClientStatus') in ('pending', 'running') and a.get('DesiredStatus', 'run') == 'run'
                    and a.get('JobType') not in SYSTEM_JOB_TYPES)
    return {'node_id': node_id, 'name': node.get('Name', ''), 'status': node.get('Status', ''),
            'eligibility': node.get('SchedulingEligibility', ''),
            'draining': bool(node.get('DrainStrategy')), 'allocations': moving}


def drain(client: NomadClient, node_id: str, deadline_seconds: int, ignore_system_jobs: bool, message: str) -> dict:
    return client.post('/v1/node/%s/drain' % quote(node_id, safe=''), {
        'DrainSpec': {'Deadline': int(deadline_seconds) * 1000000000, 'IgnoreSystemJobs': bool(ignore_system_jobs)},
        'MarkEligible': False, 'Meta': {'message': message}})


def end_drain(client: NomadClient, node_id: str) -> dict:
    """Cancel a drain still running and make the node eligible in one call."""
    return client.post('/v1/node/%s/drain' % quote(node_id, safe=''), {'DrainSpec': None, 'MarkEligible': True})


def set_eligibility(client: NomadClient, node_id: str, eligible: bool) -> dict:
    return client.post('/v1/node/%s/eligibility' % quote(node_id, safe=''),
                       {'Eligibility': 'eligible' if eligible else 'ineligible'})


class RecordError(Exception):
    """A Nomad workloads record could not be read, written or matched; ``result`` is what was found."""

    def __init__(self, msg: str, result: dict | None = None):
        super().__init__(msg)
        self.result = result or {}


def workloads_record(client_factory: Callable[[], 'NomadClient'], addr: str, state: str, path: str, overwrite: bool,
                     check_mode: bool, write: Callable[[str, str], None]) -> dict:
    """Take (``state='snapshot'``) or compare (``'compare'``) the Nomad workloads record at
    ``path`` - nomad_workloads' whole job, shared with host_state (one round trip for both
    records); ``addr`` names the agent in messages. Returns changed, jobs and host_ports (and differences on compare); raises
    RecordError. A snapshot keeps an existing record unless ``overwrite``, without asking Nomad."""
    if state == 'snapshot' and os.path.exists(path) and not overwrite:
        return {'changed': False, 'jobs': [], 'host_ports': [], 'msg': 'record kept: %s' % path}
    try:
        facts = summarize(client_factory())
    except NomadError as exc:
        raise RecordError('cannot ask the Nomad agent at %s: %s' % (addr, exc)) from exc
    current = {'jobs': facts['jobs'], 'host_ports': facts['host_ports']}
    result = {'changed': False, 'jobs': current['jobs'], 'host_ports': current['host_ports']}
    old = None
    if os.path.exists(path):
        try:
            with open(path, 'r', encoding='utf-8') as handle:
                old = json.load(handle)
        except (IOError, OSError, ValueError) as exc:
            raise RecordError('cannot read the Nomad workloads record %s: %s' % (path, exc)) from exc
    if state == 'compare':
        if old is None:
            raise RecordError('no Nomad workloads record at %s: take one with state=snapshot first' % path)
        result['differences'] = workload_differences(old, current)
        if result['differences']:
            raise RecordError('Nomad workloads differ from %s:\n- %s' % (path, '\n- '.join(result['differences'])),
                              result)
        return result
    if old is not None and (not overwrite or old == current):
        return result
    result['changed'] = True
    if not check_mode:
        try:
            write(path, json.dumps(current, indent=1, sort_keys=True))
        except (IOError, OSError) as exc:
            raise RecordError('cannot write the Nomad workloads record %s: %s' % (path, exc)) from exc
    return result
