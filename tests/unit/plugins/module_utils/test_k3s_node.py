# SPDX-License-Identifier: GPL-3.0-or-later
"""The one-pass node reading behind k3s_node_info, on real files and links."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hostfacts as hostfacts
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_node as node
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _netparse as netparse


def test_paths_are_described_without_following_links(tmp_path):
    f = tmp_path / 'config.yaml'
    f.write_text('token: x\n')
    f.chmod(0o600)
    (tmp_path / 'kubectl').symlink_to('k3s')
    st = os.stat(f)
    assert node.describe_path(str(f)) == {
        'exists': True, 'type': 'file', 'mode': '0600', 'size': 9, 'sha256': hashlib.sha256(b'token: x\n').hexdigest(),
        'sha256_from': 'read', 'identity': {'dev': st.st_dev, 'inode': st.st_ino, 'size': 9, 'mtime_ns': st.st_mtime_ns,
                                            'ctime_ns': st.st_ctime_ns}}
    assert node.describe_path(str(tmp_path / 'kubectl')) == {'exists': True, 'type': 'link', 'mode': '0777',
                                                             'target': 'k3s'}
    assert node.describe_path(str(tmp_path))['type'] == 'directory'
    assert node.describe_path(str(tmp_path / 'missing')) == {'exists': False}


def _exe(path):
    path.write_text('#!/bin/sh\n')
    path.chmod(0o755)


@pytest.fixture
def layout(tmp_path):
    install, usr = tmp_path / 'local', tmp_path / 'usr'
    install.mkdir()
    usr.mkdir()
    _exe(install / 'k3s')
    return install, usr, '%s:%s' % (install, usr)


def test_a_free_name_is_linked(layout):
    install, _usr, path = layout
    assert node.tool_actions(['kubectl'], str(install), str(install / 'k3s'), path) == \
        {'kubectl': {'action': 'link', 'other': ''}}
    (install / 'kubectl').symlink_to('k3s')
    assert node.tool_actions(['kubectl'], str(install), str(install / 'k3s'), path)['kubectl']['action'] == 'link'


def test_another_tool_is_kept_and_our_link_beside_it_removed(layout):
    install, usr, path = layout
    _exe(usr / 'ctr')
    assert node.tool_actions(['ctr'], str(install), str(install / 'k3s'), path) == \
        {'ctr': {'action': 'keep', 'other': str(usr / 'ctr')}}
    (install / 'ctr').symlink_to('k3s')
    assert node.tool_actions(['ctr'], str(install), str(install / 'k3s'), path) == \
        {'ctr': {'action': 'unlink', 'other': str(usr / 'ctr')}}


def test_a_file_of_that_name_in_the_install_dir_is_never_replaced(layout):
    install, _usr, path = layout
    (install / 'crictl').symlink_to('/nonexistent/crictl')  # a broken link that is not ours
    assert node.tool_actions(['crictl'], str(install), str(install / 'k3s'), path)['crictl'] == \
        {'action': 'keep', 'other': str(install / 'crictl')}


_RULE = 'rule family="ipv4" source address="10.89.42.6" port port="10250" protocol="tcp" accept'
_RULE_ETCD = 'rule family="ipv4" source address="10.89.42.6" port port="2379-2380" protocol="tcp" accept'


class _Settings:
    def __init__(self, ports, sources, rich_rules=()):
        self._ports, self._sources, self._rich = ports, sources, list(rich_rules)

    def getRichRules(self):
        return self._rich

    def getPorts(self):
        return self._ports

    def getSources(self):
        return self._sources


class _FakeClient:
    """MOCK of firewalld's Python client (no D-Bus system bus on the test machine): eth0 is
    bound to FedoraServer, the default zone is public."""
    connected = True

    def getActiveZones(self):
        return {'FedoraServer': {'interfaces': ['eth0']}, 'trusted': {'sources': ['10.42.0.0/16']}}

    def getDefaultZone(self):
        return 'public'

    def getPorts(self, zone):
        return {'public': [], 'FedoraServer': [['10250', 'tcp']], 'trusted': []}[zone]

    def getSources(self, zone):
        return {'public': [], 'FedoraServer': [], 'trusted': ['10.42.0.0/16']}[zone]

    def getRichRules(self, zone):
        return {'public': [], 'FedoraServer': [_RULE], 'trusted': []}[zone]

    def config(self):
        client = self

        class _Config:
            def getZoneByName(self, zone):
                class _Zone:
                    def getSettings(self):
                        if zone != 'FedoraServer':
                            return _Settings([], client.getSources(zone))
                        return _Settings([('10250', 'tcp'), ('8472', 'udp')], [], [_RULE_ETCD, _RULE])
                return _Zone()
        return _Config()


def test_firewalld_zones_runtime_and_permanent():
    out = node.firewalld_state(['trusted'], client_factory=_FakeClient, interface='eth0',
                               interface_reason='has the default route')
    assert out['running'] is True
    assert out['zone'] == 'FedoraServer'  # eth0's zone, not the default zone public
    assert out['zone_reason'] == 'the zone of eth0 (eth0 has the default route)'
    assert out['zones']['FedoraServer'] == {'ports': ['10250/tcp'], 'sources': [], 'rich_rules': [_RULE],
                                            'permanent_ports': ['10250/tcp', '8472/udp'], 'permanent_sources': [],
                                            'permanent_rich_rules': sorted([_RULE, _RULE_ETCD])}
    assert out['zones']['trusted']['sources'] == ['10.42.0.0/16']
    unbound = node.firewalld_state(['trusted'], client_factory=_FakeClient, interface='wlan0')
    assert unbound['zone'] == 'public' and unbound['zone_reason'].startswith('the default zone (wlan0 is in no zone)')
    given = node.firewalld_state(['trusted'], client_factory=_FakeClient, zone='public', interface='eth0')
    assert given['zone'] == 'public' and given['zone_reason'] == 'given' and sorted(given['zones']) == ['public', 'trusted']


def test_node_interface_by_address_or_default_route():
    interfaces = [{'name': 'lo', 'addresses': ['127.0.0.1/8']}, {'name': 'eth0', 'addresses': ['10.89.42.5/24']},
                  {'name': 'wg0', 'addresses': ['10.99.0.1/24']}]
    routes = [{'dst': 'default', 'dev': 'eth0', 'gateway': '10.89.42.1'}, {'dst': '10.99.0.0/24', 'dev': 'wg0'}]
    assert netparse.node_interface(interfaces, routes, '10.99.0.1') == ('wg0', 'carries 10.99.0.1')
    assert netparse.node_interface(interfaces, routes) == ('eth0', 'has the default route')
    assert netparse.node_interface(interfaces, routes, '192.0.2.9') == ('', 'no interface carries 192.0.2.9')
    assert netparse.node_interface(interfaces, []) == ('', 'no default route')


def test_firewalld_not_running_is_said():
    class _Down:
        connected = False
    assert node.firewalld_state(['public'], client_factory=_Down) == \
        {'running': False, 'reason': 'firewalld is not running', 'zones': {}, 'zone': '', 'zone_reason': ''}


def test_active_since_needs_a_new_timestamp():
    state = {'ActiveState': 'active', 'ActiveEnterTimestampMonotonic': '50'}
    assert node.is_active_since(state, '') is True
    assert node.is_active_since(state, '50') is False
    assert node.is_active_since(dict(state, ActiveEnterTimestampMonotonic='90'), '50') is True
    assert node.is_active_since(dict(state, ActiveState='activating'), '') is False


def test_wait_until_stops_at_the_deadline():
    now = [0.0]
    calls = []

    def check():
        calls.append(now[0])
        return False, 'no'

    def sleep(seconds):
        now[0] += seconds

    assert node.wait_until(check, 5, interval=2, clock=lambda: now[0], sleep=sleep) == (False, 'no')
    assert calls == [0.0, 2.0, 4.0, 5.0]


def test_service_ports_come_from_the_definition_files(tmp_path):
    etc, usr = tmp_path / 'etc', tmp_path / 'usr'
    etc.mkdir()
    usr.mkdir()
    (usr / 'ssh.xml').write_text('<service><port protocol="tcp" port="22"/></service>')
    (usr / 'nomad.xml').write_text('<service><port protocol="tcp" port="4646"/></service>')
    (etc / 'nomad.xml').write_text('<service><port protocol="tcp" port="4646-4648"/>'
                                   '<port protocol="udp" port="4648"/></service>')
    dirs = (str(etc), str(usr))
    assert hostfacts.service_ports_from_xml('ssh', dirs) == ['22/tcp']
    assert hostfacts.service_ports_from_xml('nomad', dirs) == ['4646-4648/tcp', '4648/udp']
    assert hostfacts.service_ports_from_xml('absent', dirs) is None


def test_firewalld_is_read_with_one_listing(tmp_path, monkeypatch):
    services = tmp_path / 'services'
    services.mkdir()
    (services / 'ssh.xml').write_text('<service><port protocol="tcp" port="22"/></service>')
    conf = tmp_path / 'firewalld.conf'
    conf.write_text('# comment\nDefaultZone=FedoraServer\n')
    listing = 'FedoraServer (active)\n  target: default\n  services: ssh cockpit\n  ports: 4646/tcp\n\ntrusted\n  sources: \n'
    calls = []

    def run(argv):
        calls.append(argv)
        if argv == ['firewall-cmd', '--list-all-zones']:
            return 0, listing, ''
        if argv == ['firewall-cmd', '--info-service=cockpit']:
            return 0, 'cockpit\n  ports: 9090/tcp\n', ''
        raise AssertionError(argv)

    monkeypatch.setattr(hostfacts, 'tool_available', lambda name: True)
    monkeypatch.setattr(hostfacts, 'firewalld_process', lambda proc='/proc': True)
    facts = hostfacts.collect_firewalld(run, service_dirs=(str(services),), firewalld_conf=str(conf))
    assert facts['running'] is True and facts['default_zone'] == 'FedoraServer'
    assert facts['service_ports'] == {'cockpit': ['9090/tcp'], 'ssh': ['22/tcp']}
    # one listing, and --info-service only for the service without a definition file here
    assert calls == [['firewall-cmd', '--list-all-zones'], ['firewall-cmd', '--info-service=cockpit']]


def test_firewalld_not_running_costs_one_call(monkeypatch):
    monkeypatch.setattr(hostfacts, 'tool_available', lambda name: True)
    monkeypatch.setattr(hostfacts, 'firewalld_process', lambda proc='/proc': True)
    calls = []
    facts = hostfacts.collect_firewalld(lambda argv: calls.append(argv) or (252, '', 'FirewallD is not running'))
    assert facts['running'] is False and len(calls) == 1
    assert os.path.basename(calls[0][0]) == 'firewall-cmd'


def _proc(tmp_path, *names):
    for pid, name in enumerate(names, start=1):
        (tmp_path / str(pid)).mkdir(parents=True)
        (tmp_path / str(pid) / 'comm').write_text(name + '\n')
    (tmp_path / 'self').mkdir(parents=True)
    return str(tmp_path)


def test_no_firewalld_process_costs_no_call(tmp_path, monkeypatch):
    monkeypatch.setattr(hostfacts, 'tool_available', lambda name: True)
    calls = []
    facts = hostfacts.collect_firewalld(lambda argv: calls.append(argv) or (0, '', ''),
                                        proc=_proc(tmp_path / 'a', 'systemd', 'nomad', 'k3s-server'))
    assert facts['installed'] and not facts['running'] and calls == []
    assert hostfacts.firewalld_process(_proc(tmp_path / 'b', 'systemd', 'firewalld'))
    assert hostfacts.firewalld_process(str(tmp_path / 'missing'))  # cannot tell: ask firewall-cmd


def _tools(tmp_path, *names):
    for name in names:
        tool = tmp_path / name
        tool.write_text('#!/bin/sh\n')
        tool.chmod(0o755)
    return str(tmp_path)


def _run_real(argv):
    import subprocess
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.skipif(not os.path.exists('/usr/bin/dpkg-query'), reason='needs a Debian host (the CI machine is one)')
def test_packages_are_read_from_the_real_dpkg_database():
    out = node.package_state(_run_real, ['dpkg', 'no-such-package-k3s-migration'], '/usr/bin')
    assert out['dpkg']['installed'] is True
    assert out['dpkg']['version']
    assert out['no-such-package-k3s-migration'] == {'installed': False, 'version': ''}


def test_dpkg_is_preferred_and_a_package_not_installed_is_false(tmp_path):
    calls = []

    def run(argv):
        calls.append(argv)
        # dpkg knows both, one only as removed ("config-files")
        return 0, 'container-selinux\tinstalled\t2.1\nold\tconfig-files\t1.0\n', ''
    out = node.package_state(run, ['container-selinux', 'old'], _tools(tmp_path, 'dpkg-query', 'rpm'))
    assert calls[0][0].endswith('/dpkg-query')
    assert out == {'container-selinux': {'installed': True, 'version': '2.1'}, 'old': {'installed': False, 'version': ''}}


def test_rpm_is_read_where_there_is_no_dpkg(tmp_path):
    def run(argv):
        assert argv[0].endswith('/rpm') and argv[1] == '-q'
        return 1, 'container-selinux\t2.240.0-1.fc43\npackage k3s-selinux is not installed\n', ''
    out = node.package_state(run, ['container-selinux', 'k3s-selinux'], _tools(tmp_path, 'rpm'))
    assert out['container-selinux'] == {'installed': True, 'version': '2.240.0-1.fc43'}
    assert out['k3s-selinux']['installed'] is False


def test_packages_unknown_without_a_database_and_nothing_run_for_none(tmp_path):
    def run(argv):
        raise AssertionError('nothing to run: %s' % argv)
    assert node.package_state(run, ['x'], _tools(tmp_path))['x']['installed'] is None
    assert node.package_state(run, [], _tools(tmp_path, 'rpm')) == {}


def test_a_recorded_checksum_is_trusted_only_while_the_identity_is_the_same(tmp_path, monkeypatch):
    binary = tmp_path / 'k3s'
    binary.write_bytes(b'release')
    first = node.describe_path(str(binary))
    assert first['sha256_from'] == 'read'
    assert first['sha256'] == hashlib.sha256(b'release').hexdigest()
    record_file = tmp_path / 'checksums.json'
    record_file.write_text(json.dumps({'version': 1, 'files': {str(binary): dict(first, sha256='f' * 64)}}))
    record = node.load_checksum_record(str(record_file))

    # the recorded checksum is returned without reading the file
    monkeypatch.setattr(node.treesum, 'file_sha256', lambda path: pytest.fail('read %s' % path))
    assert node.describe_path(str(binary), record)['sha256'] == 'f' * 64
    assert node.describe_path(str(binary), record)['sha256_from'] == 'record'
    monkeypatch.undo()

    # the same size and mtime put back after a change: the ctime differs, so it is read
    stat_before = os.stat(binary)
    time.sleep(0.01)
    binary.write_bytes(b'tamper!')
    os.utime(binary, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    again = node.describe_path(str(binary), record)
    assert again['sha256_from'] == 'read'
    assert again['sha256'] == hashlib.sha256(b'tamper!').hexdigest()


@pytest.mark.parametrize('text', ['', 'not json', '{"version": 2, "files": {}}', '{"version": 1, "files": []}', '[]'])
def test_an_unusable_record_means_every_file_is_read(tmp_path, text):
    record_file = tmp_path / 'checksums.json'
    record_file.write_text(text)
    assert node.load_checksum_record(str(record_file)) == {}
    assert node.load_checksum_record(str(tmp_path / 'none.json')) == {}
    assert node.load_checksum_record('') == {}
