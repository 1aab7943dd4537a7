#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_runtime_cleanup
short_description: Stop every process K3s left running, pods included, and unmount its mounts
version_added: 0.1.0
description:
  - Run once the K3s unit is stopped. K3s's unit has C(KillMode=process), so containerd's
    shims and every container process outlive it; container processes are children of a
    shim and carry nothing of K3s in their command line.
  - A process is K3s's when its executable or C(argv[0]) lies under O(data_dir), when it is
    in the cgroup of one of O(units), or in a cgroup under O(cgroup_roots); every
    descendant of such a process is K3s's too. All of them are stopped (C(SIGSTOP), until
    no new child appears), then killed (C(SIGKILL)). PID 1 and the module's own ancestors
    are never signalled. Nomad's, Docker's and podman's processes match none of these.
  - Then every mount at or below O(data_dir) and O(mount_paths) is unmounted, the last
    mounted first (C(umount), C(umount -l) when busy). The module fails, listing them,
    when a mount is still there afterwards, so that nothing is deleted through it.
  - Network namespaces are left to M(brmartin.k3s_migration.k3s_network_cleanup).
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: Reports what would be killed and unmounted, and changes nothing.
  diff_mode:
    support: full
    description: The killed processes and the unmounted mount points as a diff.
options:
  data_dir:
    description: K3s's data directory (C(data-dir)).
    type: path
    default: /var/lib/rancher/k3s
  units:
    description: K3s's systemd units; a process left in one of their cgroups is K3s's.
    type: list
    elements: str
    default: [k3s, k3s-agent]
  cgroup_roots:
    description:
      - Cgroups (from the root of the hierarchy) whose processes are the kubelet's pods.
      - A kubelet nested in a container (k3d, kind) has its pods below that container's
        cgroup, not at the root, and is left alone.
    type: list
    elements: str
    default: [/kubepods, /kubepods.slice]
  mount_paths:
    description: Directories whose mounts are K3s's, besides O(data_dir).
    type: list
    elements: path
    default: [/run/k3s, /var/lib/kubelet]
  timeout:
    description: Seconds to wait for killed processes to be gone.
    type: int
    default: 30
seealso:
  - module: brmartin.k3s_migration.k3s_network_cleanup
"""

EXAMPLES = r"""
- name: Stop the K3s unit
  ansible.builtin.systemd_service:
    name: k3s
    state: stopped

- name: Stop what K3s left running and unmount its mounts
  brmartin.k3s_migration.k3s_runtime_cleanup:
    data_dir: /var/lib/rancher/k3s
  register: runtime

- name: Show what was killed
  ansible.builtin.debug:
    var: runtime.killed
"""

RETURN = r"""
killed:
  description: The processes killed (or in check mode to be killed), without their arguments.
  returned: always
  type: list
  elements: dict
  sample:
    - {"pid": 4121, "name": "containerd-shim", "exe": "/var/lib/rancher/k3s/data/8c2b/bin/containerd-shim-runc-v2"}
    - {"pid": 4188, "name": "nginx", "exe": "/usr/sbin/nginx"}
unmounted:
  description: The mount points unmounted (or in check mode to be unmounted), in that order.
  returned: always
  type: list
  elements: str
  sample:
    - /var/lib/kubelet/pods/0b7c/volumes/kubernetes.io~projected/kube-api-access-x2v
    - /run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/5e1f/rootfs
remaining:
  description: Mount points still there after unmounting (the module then fails).
  returned: failure
  type: list
  elements: str
  sample: ["/var/lib/kubelet/pods/0b7c/volumes/kubernetes.io~csi/data/mount"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_runtime as runtime

MOUNTS = '/proc/self/mounts'


def read_mounts(paths: list) -> list:
    with open(MOUNTS) as handle:
        return runtime.mounts_under(runtime.parse_mounts(handle.read()), paths)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            data_dir=dict(type='path', default='/var/lib/rancher/k3s'),
            units=dict(type='list', elements='str', default=['k3s', 'k3s-agent']),
            cgroup_roots=dict(type='list', elements='str', default=['/kubepods', '/kubepods.slice']),
            mount_paths=dict(type='list', elements='path', default=['/run/k3s', '/var/lib/kubelet']),
            timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    paths = [params['data_dir']] + params['mount_paths']
    result = dict(changed=False, killed=[], unmounted=[])

    if module.check_mode:
        procs = runtime.read_processes()
        protected = runtime.protected_pids(procs, os.getpid())
        result['killed'] = [procs[p].describe() for p in runtime.k3s_processes(
            procs, params['data_dir'], params['units'], params['cgroup_roots'], protected)]
        result['unmounted'] = read_mounts(paths)
    else:
        killed, survivors = runtime.kill_k3s_processes(params['data_dir'], params['units'], params['cgroup_roots'],
                                                       timeout=params['timeout'])
        result['killed'] = [p.describe() for p in killed]
        if survivors:
            module.fail_json(msg='K3s processes still running %ds after SIGKILL (uninterruptible, e.g. on a hung mount): %s'
                             % (params['timeout'], ', '.join('%d %s' % (p.pid, p.name) for p in survivors)), **result)
        errors = []
        for point in read_mounts(paths):
            rc, _out, err = module.run_command(['umount', point])
            if rc != 0:
                rc, _out, err2 = module.run_command(['umount', '-l', point])
                if rc != 0:
                    errors.append('%s: %s' % (point, (err2 or err).strip()))
                    continue
            result['unmounted'].append(point)
        remaining = read_mounts(paths)
        if remaining:
            result['changed'] = bool(result['killed'] or result['unmounted'])
            module.fail_json(msg='K3s mounts remain after unmounting, so nothing under them was deleted: %s%s. '
                                 'Unmount them (umount PATH), then run again.'
                                 % (', '.join(remaining), ' (%s)' % '; '.join(errors) if errors else ''),
                             remaining=remaining, **result)

    result['changed'] = bool(result['killed'] or result['unmounted'])
    if module._diff and result['changed']:
        lines = ['process: %(pid)d %(name)s %(exe)s' % p for p in result['killed']]
        lines += ['mount: %s' % m for m in result['unmounted']]
        result['diff'] = {'before_header': 'K3s processes and mounts', 'after_header': 'after cleanup',
                          'before': '\n'.join(lines) + '\n', 'after': ''}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
