# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only collection of host facts (sockets, addresses, rules, kernel, firewalld).

Every function takes a ``run`` callable (``argv -> (rc, stdout, stderr)``) and reads
files through plain ``open`` calls, so tests can hand in captured output. Nothing here
changes the host: only listing commands are run, and files are opened for reading.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable
from xml.etree import ElementTree

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse

Runner = Callable[[list], tuple]

# Where Raspberry Pi boot loaders read the kernel command line, most specific first:
# Ubuntu's piboot A/B layout, Ubuntu/Raspberry Pi OS bookworm, older Raspberry Pi OS.
PI_CMDLINE_CANDIDATES = (
    '/boot/firmware/current/cmdline.txt',
    '/boot/firmware/cmdline.txt',
    '/boot/cmdline.txt',
)

# The one map from a kernel's machine name (uname -m, Ansible's architecture fact) to K3s's
# arch and the release file of its binary, read by the preflight and, through the k3s_arch
# filter, by the k3s role. K3s's arm build is ARMv7 (armhf): an armv6l machine has none.
K3S_ARCHES = {'x86_64': 'amd64', 'amd64': 'amd64', 'aarch64': 'arm64', 'arm64': 'arm64', 'armv7l': 'arm'}
K3S_BINARIES = {'amd64': 'k3s', 'arm64': 'k3s-arm64', 'arm': 'k3s-armhf'}


def read_text(path: str, default: str | None = None) -> str | None:
    try:
        with open(path, 'r', encoding='utf-8', errors='replace') as handle:
            return handle.read()
    except (IOError, OSError):
        return default


def tool_available(name: str) -> bool:
    return shutil.which(name) is not None or any(
        os.access(os.path.join(d, name), os.X_OK) for d in ('/usr/sbin', '/sbin'))


def collect_sockets(run: Runner) -> dict:
    rc, out, err = run(['ss', '-H', '-l', '-n', '-t', '-u', '-p'])
    if rc != 0:
        return {'available': False, 'error': (err or out).strip() or 'ss exited %d' % rc, 'sockets': []}
    sockets = netparse.parse_ss(out)
    for sock in sockets:
        for proc in sock['processes']:
            try:  # which program holds the port: K3s's own run from its data directory
                proc['exe'] = os.readlink('/proc/%d/exe' % proc['pid'])
            except OSError:
                proc['exe'] = ''
    return {'available': True, 'error': '', 'sockets': sockets}


def collect_interfaces(run: Runner) -> dict:
    rc, out, err = run(['ip', '-d', '-j', 'addr', 'show'])
    if rc != 0:
        return {'available': False, 'error': (err or out).strip(), 'interfaces': []}
    return {'available': True, 'error': '', 'interfaces': netparse.parse_ip_addr(out)}


def collect_routes(run: Runner) -> dict:
    routes = []
    for family in ('-4', '-6'):
        rc, out, err = run(['ip', '-j', family, 'route', 'show'])
        if rc != 0:
            return {'available': False, 'error': (err or out).strip(), 'routes': []}
        routes.extend(netparse.parse_ip_route(out))
    return {'available': True, 'error': '', 'routes': routes}


def collect_iptables(run: Runner) -> dict:
    """iptables rules, or ``available: false`` with the reason (e.g. no netfilter)."""
    if not tool_available('iptables-save'):
        return {'available': False, 'error': 'iptables-save is not installed', 'mode': '', 'tables': {}}
    rc, out, err = run(['iptables', '--version'])
    mode = ''
    if rc == 0:
        mode = 'nf_tables' if 'nf_tables' in out else ('legacy' if 'legacy' in out else '')
    rc, out, err = run(['iptables-save'])
    if rc != 0 or (not out.strip() and err.strip()):
        return {'available': False, 'error': (err or out).strip() or 'iptables-save exited %d' % rc,
                'mode': mode, 'tables': {}}
    return {'available': True, 'error': '', 'mode': mode, 'tables': netparse.parse_iptables_save(out)}


def collect_nft(run: Runner) -> dict:
    if not tool_available('nft'):
        return {'available': False, 'error': 'nft is not installed', 'tables': []}
    rc, out, err = run(['nft', 'list', 'tables'])
    if rc != 0:
        return {'available': False, 'error': (err or out).strip(), 'tables': []}
    tables = [' '.join(line.split()[1:]) for line in out.splitlines() if line.startswith('table ')]
    return {'available': True, 'error': '', 'tables': sorted(tables)}


def collect_resolv() -> dict:
    facts = {}
    for key, path in (('etc', '/etc/resolv.conf'), ('systemd_resolved', '/run/systemd/resolve/resolv.conf')):
        text = read_text(path)
        facts[key] = {'path': path, 'exists': text is not None,
                      'nameservers': netparse.parse_resolv_conf(text or '')}
    return facts


def collect_memory() -> dict:
    info = {}
    for line in (read_text('/proc/meminfo', '') or '').splitlines():
        key, _sep, value = line.partition(':')
        fields = value.split()
        if fields and fields[0].isdigit():
            info[key] = int(fields[0]) // 1024
    return {'total_mb': info.get('MemTotal', 0),
            'available_mb': info.get('MemAvailable', info.get('MemFree', 0))}


def collect_kernel(modules: list, sysctls: list) -> dict:
    loaded = set()
    for line in (read_text('/proc/modules', '') or '').splitlines():
        loaded.add(line.split(' ', 1)[0])
    mods = {m: (m in loaded or os.path.isdir('/sys/module/%s' % m)) for m in modules}
    values = {}
    for name in sysctls:
        value = read_text('/proc/sys/%s' % name.replace('.', '/'))
        values[name] = value.strip() if value is not None else None
    return {'release': os.uname().release, 'modules': mods, 'sysctls': values}


def collect_cgroups() -> dict:
    """Is the memory controller usable, and which cmdline.txt would switch it on."""
    cmdline = (read_text('/proc/cmdline', '') or '').strip()
    v2_controllers = read_text('/sys/fs/cgroup/cgroup.controllers')
    if v2_controllers is not None:
        version = 2
        memory = 'memory' in v2_controllers.split()
    else:
        version = 1
        memory = False
        for line in (read_text('/proc/cgroups', '') or '').splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[0] == 'memory':
                memory = fields[3] == '1'
    if 'cgroup_disable=memory' in cmdline.split():
        memory = False
    boot_cmdline = next((p for p in PI_CMDLINE_CANDIDATES if os.path.isfile(p)), '')
    model = (read_text('/proc/device-tree/model', '') or '').strip('\x00\n ')
    return {'version': version, 'memory': memory, 'kernel_cmdline': cmdline,
            'boot_cmdline_file': boot_cmdline, 'board': model}


FIREWALLD_SERVICE_DIRS = ('/etc/firewalld/services', '/usr/lib/firewalld/services')


def service_ports_from_xml(name: str, dirs=FIREWALLD_SERVICE_DIRS) -> list[str] | None:
    """A firewalld service's ports (``8080/tcp``) from its definition file, the one in
    /etc/firewalld overriding the packaged one; None when no file defines it."""
    for directory in dirs:
        path = os.path.join(directory, name + '.xml')
        if os.path.isfile(path):
            try:
                root = ElementTree.parse(path).getroot()
            except (ElementTree.ParseError, OSError):
                return None
            return ['%s/%s' % (p.get('port'), p.get('protocol')) for p in root.iter('port')
                    if p.get('port') and p.get('protocol')]
    return None


def firewalld_process(proc: str = '/proc') -> bool:
    """Whether a firewalld daemon runs here (a process named firewalld, its script's name):
    asking firewall-cmd (a Python program, ~0.2 s) whether it runs is the cost avoided."""
    try:
        pids = [d for d in os.listdir(proc) if d.isdigit()]
    except OSError:
        return True  # cannot tell: ask firewall-cmd
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, 'comm'), 'r', encoding='utf-8', errors='replace') as handle:
                if handle.read().strip() == 'firewalld':
                    return True
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return False


def collect_firewalld(run: Runner, service_dirs=FIREWALLD_SERVICE_DIRS,
                      firewalld_conf: str = '/etc/firewalld/firewalld.conf', proc: str = '/proc') -> dict:
    """firewalld's zones (one ``--list-all-zones``, which fails when firewalld is not
    running and, from firewalld 2.0, marks the default zone - else firewalld.conf names
    it) and the ports of the default zone's services,
    read from their definition files (``--info-service`` only for a service without one)."""
    facts = {'installed': tool_available('firewall-cmd'), 'running': False, 'default_zone': '',
             'zones': {}, 'service_ports': {}}
    if not facts['installed'] or not firewalld_process(proc):
        return facts
    rc, out, _err = run(['firewall-cmd', '--list-all-zones'])
    if rc != 0:
        return facts
    facts['running'] = True
    facts['zones'] = netparse.parse_firewalld_zones(out)
    facts['default_zone'] = next((name for name, zone in facts['zones'].items() if zone.get('default')), '')
    if not facts['default_zone']:  # firewalld before 2.0 does not mark it: its config names it
        conf = read_text(firewalld_conf, '') or ''
        facts['default_zone'] = next((line.split('=', 1)[1].strip() for line in conf.splitlines()
                                      if line.startswith('DefaultZone=')), '')
        if facts['default_zone'] not in facts['zones']:
            facts['default_zone'] = ''
    if not facts['default_zone']:
        _rc, out, _err = run(['firewall-cmd', '--get-default-zone'])
        facts['default_zone'] = out.strip()
    for service in sorted(facts['zones'].get(facts['default_zone'], {}).get('services', [])):
        ports = service_ports_from_xml(service, service_dirs)
        if ports is None:
            rc, out, _err = run(['firewall-cmd', '--info-service=%s' % service])
            ports = netparse.parse_firewalld_service_ports(out) if rc == 0 else []
        facts['service_ports'][service] = ports
    return facts


def _mount_of(path: str, mountinfo: str) -> dict:
    """The mount (point, fstype, source) holding ``path`` (or its nearest existing parent)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and probe != '/':
        probe = os.path.dirname(probe)
    best = {'mount_point': '/', 'fstype': '', 'source': '', 'device': None}
    for line in mountinfo.splitlines():
        pre, _sep, post = line.partition(' - ')
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        point = fields[4].replace('\\040', ' ')
        if (probe == point or probe.startswith(point.rstrip('/') + '/')) and len(point) >= len(best['mount_point']):
            best = {'mount_point': point, 'fstype': tail[0], 'source': tail[1], 'device': fields[2]}
    best['path'] = path
    best['probed'] = probe
    best['exists'] = os.path.exists(path)
    return best


def collect_storage(data_dir: str, shared_dirs: list) -> dict:
    mountinfo = read_text('/proc/self/mountinfo', '') or ''
    data = _mount_of(data_dir, mountinfo)
    others = [_mount_of(p, mountinfo) for p in shared_dirs if os.path.exists(p)]
    return {'data_dir': data, 'others': others}


def collect_all(run: Runner, data_dir: str, shared_dirs: list, modules: list, sysctls: list) -> dict:
    machine = os.uname().machine
    return {
        'machine': machine,
        'arch': K3S_ARCHES.get(machine, machine),
        'hostname': os.uname().nodename,
        'cpus': os.cpu_count() or 0,
        'memory': collect_memory(),
        'sockets': collect_sockets(run),
        'interfaces': collect_interfaces(run),
        'routes': collect_routes(run),
        'iptables': collect_iptables(run),
        'nft': collect_nft(run),
        'resolv': collect_resolv(),
        'kernel': collect_kernel(modules, sysctls),
        'cgroups': collect_cgroups(),
        'firewalld': collect_firewalld(run),
        'storage': collect_storage(data_dir, shared_dirs),
    }
