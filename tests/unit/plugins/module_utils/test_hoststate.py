# SPDX-License-Identifier: GPL-3.0-or-later
"""host_state records: paths walked for real, comparisons with ignore patterns."""

from __future__ import annotations

import hashlib
import os

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _hoststate as hoststate


def test_walk_records_files_dirs_and_links_without_following(tmp_path):
    cni = tmp_path / 'cni'
    (cni / 'networks' / 'nomad').mkdir(parents=True)
    alloc = cni / 'networks' / 'nomad' / '172.26.64.2'
    alloc.write_text('abc\neth0')
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret').write_text('not recorded')
    os.symlink(str(outside), str(cni / 'escape'))
    found = hoststate.walk_paths([str(cni), str(tmp_path / 'missing')])
    assert found[str(alloc)]['type'] == 'file'
    assert found[str(alloc)]['sha256'] == hashlib.sha256(b'abc\neth0').hexdigest()
    assert found[str(alloc)]['size'] == 8
    assert found[str(cni / 'escape')] == {'type': 'link', 'mode': found[str(cni / 'escape')]['mode'],
                                          'target': str(outside)}
    assert not any(k.startswith(str(outside)) for k in found)
    assert str(tmp_path / 'missing') not in found


def test_content_change_is_a_changed_path(tmp_path):
    f = tmp_path / 'last_reserved_ip.0'
    f.write_text('172.26.64.2')
    before = {'paths': hoststate.walk_paths([str(tmp_path)])}
    f.write_text('172.26.64.3')
    after = {'paths': hoststate.walk_paths([str(tmp_path)])}
    diffs, ignored = hoststate.compare(before, after)
    assert diffs == {'paths': {'added': [], 'removed': [], 'changed': [str(f)]}}
    assert ignored == {}


BEFORE = {
    'interfaces': {'nomad': {'kind': 'bridge', 'mtu': 1500, 'addresses': ['172.26.64.1/20']}},
    'iptables': {'filter/NOMAD-ADMIN': {'policy': '-', 'rules': ['-A NOMAD-ADMIN -d 172.26.64.0/20 -j ACCEPT']}},
    'units': {'lab-nomad-agent.service': 'active/running'},
}


def test_compare_added_removed_changed_and_ignore_globs():
    after = {
        'interfaces': {'nomad': {'kind': 'bridge', 'mtu': 1500, 'addresses': ['172.26.64.1/20']},
                       'cni0': {'kind': 'bridge', 'mtu': 1450, 'addresses': ['10.42.0.1/24']}},
        'iptables': {'filter/NOMAD-ADMIN': {'policy': '-', 'rules': []},
                     'nat/KUBE-SERVICES': {'policy': '-', 'rules': []}},
        'units': {'lab-nomad-agent.service': 'active/running', 'k3s.service': 'active/running'},
    }
    diffs, ignored = hoststate.compare(BEFORE, after, ignore=['units:k3s*', 'interfaces'])
    assert diffs == {'iptables': {'added': ['nat/KUBE-SERVICES'], 'removed': [], 'changed': ['filter/NOMAD-ADMIN']}}
    assert ignored == {'interfaces': {'added': ['cni0'], 'removed': [], 'changed': []},
                       'units': {'added': ['k3s.service'], 'removed': [], 'changed': []}}
    assert hoststate.summarize(diffs) == ['iptables added: nat/KUBE-SERVICES', 'iptables changed: filter/NOMAD-ADMIN']


def test_skipped_categories_are_not_compared():
    after = dict(BEFORE, iptables={})
    diffs, _ignored = hoststate.compare(BEFORE, after, skip={'iptables'})
    assert diffs == {}
    diffs, _ignored = hoststate.compare(BEFORE, after)
    assert diffs['iptables']['removed'] == ['filter/NOMAD-ADMIN']


def test_take_reads_through_the_runner_and_marks_unavailable(tmp_path):
    outputs = {
        ('ip', '-d', '-j', 'addr', 'show'): (0, '[{"ifname": "lo", "addr_info": [{"local": "127.0.0.1", '
                                                '"prefixlen": 8}]}]', ''),
        ('ip', '-j', '-4', 'route', 'show'): (0, '[]', ''),
        ('ip', '-j', '-6', 'route', 'show'): (0, '[]', ''),
        ('iptables', '--version'): (0, 'iptables v1.8.9 (nf_tables)', ''),
        ('iptables-save',): (1, '', 'iptables-save v1.8.9 (nf_tables): Failed to initialize nft: Protocol not supported'),
        ('nft', 'list', 'tables'): (1, '', 'Error: Protocol not supported'),
        ('ss', '-H', '-l', '-n', '-t', '-u', '-p'): (0, 'tcp LISTEN 0 5 0.0.0.0:4646 0.0.0.0:* '
                                                        'users:(("python3",pid=42,fd=3))\n', ''),
    }

    def run(argv):
        return outputs.get(tuple(argv), (1, '', 'no such command in this test'))

    taken = hoststate.take(run, [str(tmp_path)])
    cats = taken['categories']
    assert cats['interfaces'] == {'lo': {'kind': '', 'mtu': None, 'addresses': ['127.0.0.1/8']}}
    assert cats['sockets'] == {'tcp 0.0.0.0:4646 python3': 'listening'}
    assert 'iptables' in taken['unavailable'] and 'Protocol not supported' in taken['unavailable']['iptables']
    assert 'units' in taken['unavailable']
    assert cats['paths'][str(tmp_path)]['type'] == 'dir'
