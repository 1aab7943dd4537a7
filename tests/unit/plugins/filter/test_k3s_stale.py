# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.brmartin.k3s_migration.plugins.filter.k3s_stale import k3s_stale

SHA = 'a' * 64
READING = {
    '/etc/rancher/k3s/config.yaml': {'exists': True, 'type': 'file', 'mode': '0600', 'size': 10, 'sha256': SHA},
    '/etc/rancher/k3s': {'exists': True, 'type': 'directory', 'mode': '0755'},
    '/usr/local/bin/kubectl': {'exists': True, 'type': 'link', 'mode': '0777', 'target': 'k3s'},
    '/var/lib/rancher/k3s/agent/images/extra.tar': {'exists': True, 'type': 'file', 'mode': '0644', 'sha256': SHA},
    '/etc/systemd/system/k3s.service': {'exists': False},
}


def why(item):
    out = k3s_stale([item], READING)
    return out[0]['why'] if out else ''


def test_a_file_as_planned_is_not_stale():
    assert why({'path': '/etc/rancher/k3s/config.yaml', 'mode': '0600', 'sha256': SHA}) == ''
    assert why({'path': '/etc/rancher/k3s', 'mode': '0755', 'type': 'directory'}) == ''


def test_each_difference_is_named():
    assert why({'path': '/etc/rancher/k3s/config.yaml', 'mode': '0600', 'sha256': 'b' * 64}) == 'content differs'
    assert why({'path': '/etc/rancher/k3s/config.yaml', 'mode': '0644', 'sha256': SHA}) == 'mode 0600, want 0644'
    assert why({'path': '/etc/systemd/system/k3s.service', 'mode': '0644', 'sha256': SHA}) == 'missing'
    assert why({'path': '/not/read', 'mode': '0644', 'sha256': SHA}) == 'missing'
    assert why({'path': '/usr/local/bin/kubectl', 'mode': '0777', 'sha256': SHA}) == 'a link, not a file'
    assert why({'path': '/etc/rancher/k3s/config.yaml', 'mode': '0600', 'type': 'directory'}) == 'a file, not a directory'


def test_a_file_whose_content_is_not_known_yet_is_stale():
    # the join token before the primary server made one
    assert why({'path': '/etc/rancher/k3s/config.yaml', 'mode': '0600', 'sha256': ''}) == 'content not known yet'


def test_only_the_stale_items_come_back_in_order_with_their_keys():
    wanted = [{'path': '/etc/systemd/system/k3s.service', 'mode': '0644', 'sha256': SHA, 'label': 'unit'},
              {'path': '/etc/rancher/k3s/config.yaml', 'mode': '0600', 'sha256': SHA},
              {'path': '/etc/rancher/k3s', 'mode': '0700', 'type': 'directory'}]
    out = k3s_stale(wanted, READING)
    assert [i['path'] for i in out] == ['/etc/systemd/system/k3s.service', '/etc/rancher/k3s']
    assert out[0]['label'] == 'unit'
    assert 'why' not in wanted[0]  # the input is not changed


def test_path_and_checksum_pairs_take_the_mode_given():
    pairs = [['/var/lib/rancher/k3s/agent/images/extra.tar', SHA], ('/var/lib/rancher/k3s/agent/images/new.tar', SHA)]
    assert [i['path'] for i in k3s_stale(pairs, READING, mode='0644')] == ['/var/lib/rancher/k3s/agent/images/new.tar']
    assert k3s_stale(pairs[:1], READING, mode='0600')[0]['why'] == 'mode 0644, want 0600'


@pytest.mark.parametrize('wanted, paths', [([{'mode': '0644'}], READING), (['/etc/x'], READING), ([], ['not', 'a', 'dict'])])
def test_bad_input_is_an_error(wanted, paths):
    with pytest.raises(AnsibleFilterError):
        k3s_stale(wanted, paths)
