# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.brmartin.k3s_migration.plugins.filter.k3s_arch import k3s_arch
from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _preflight


def test_machine_names_map_to_k3s_release_files():
    assert k3s_arch('x86_64')['arch'] == 'amd64'
    assert k3s_arch('x86_64')['binary'] == 'k3s'
    assert k3s_arch('aarch64')['binary'] == 'k3s-arm64'
    assert k3s_arch('armv7l')['binary'] == 'k3s-armhf'


def test_a_machine_without_a_k3s_build_gets_nothing():
    # K3s's arm build is ARMv7: a Pi Zero/1 (armv6l) has none, nor has riscv64.
    for machine in ('armv6l', 'riscv64', 's390x', ''):
        assert k3s_arch(machine)['arch'] == ''
        assert k3s_arch(machine)['binary'] == ''
    assert 'armv6l' not in k3s_arch('x86_64')['supported']


def test_the_preflight_supports_exactly_the_arches_with_a_binary():
    arches = {k3s_arch(m)['arch'] for m in k3s_arch('x86_64')['supported']}
    assert arches == set(_preflight.SUPPORTED_ARCHES)
