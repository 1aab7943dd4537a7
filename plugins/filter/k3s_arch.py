# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: k3s_arch
short_description: K3s's arch and release binary for a machine name
version_added: 0.2.0
author:
  - brmartin.k3s_migration maintainers (@brmartin)
description:
  - Maps a kernel's machine name (C(uname -m), Ansible's C(architecture) fact) to the arch
    K3s names its release files by (V(amd64), V(arm64), V(arm)) and the file of its binary
    (C(k3s), C(k3s-arm64), C(k3s-armhf)). The same map the preflight reads, so the two
    cannot disagree about which machines have a K3s build.
  - K3s's arm build is ARMv7 (armhf); an C(armv6l) machine, like any machine K3s does not
    build for, gets empty C(arch) and C(binary).
options:
  _input:
    description: The machine name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The K3s binary this node downloads
  ansible.builtin.debug:
    msg: "{{ (ansible_facts['architecture'] | brmartin.k3s_migration.k3s_arch).binary }}"
"""

RETURN = r"""
_value:
  description: >-
    C(arch) and C(binary) (empty when K3s has no build for the machine) and C(supported),
    the machine names that have one.
  type: dict
  sample: {"arch": "arm64", "binary": "k3s-arm64", "supported": ["x86_64", "amd64", "aarch64", "arm64", "armv7l"]}
"""

from ansible_collections.brmartin.k3s_migration.plugins.module_utils._hostfacts import K3S_ARCHES, K3S_BINARIES


def k3s_arch(machine):
    arch = K3S_ARCHES.get(str(machine), '')
    return {'arch': arch, 'binary': K3S_BINARIES.get(arch, ''), 'supported': list(K3S_ARCHES)}


class FilterModule:
    def filters(self):
        return {'k3s_arch': k3s_arch}
