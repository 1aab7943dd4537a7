# SPDX-License-Identifier: GPL-3.0-or-later
"""What K3s leaves running and mounted: its shims' whole process trees go, nobody else's."""

from __future__ import annotations

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _k3s_runtime as runtime
from ansible_collections.brmartin.k3s_migration.plugins.module_utils._k3s_runtime import Proc

DATA = '/var/lib/rancher/k3s'
SHIM = DATA + '/data/8c2b0f/bin/containerd-shim-runc-v2'
UNITS = ['k3s', 'k3s-agent']
ROOTS = ['/kubepods', '/kubepods.slice']


def proc(pid, ppid, name, exe='', argv0=None, cgroup='/system.slice/ssh.service', state='S'):
    return Proc(pid, ppid, state, pid * 10, name, exe, exe if argv0 is None else argv0, (cgroup,))


# A Nomad client with K3s beside it, K3s's unit stopped (KillMode=process).
TABLE = {p.pid: p for p in [
    proc(1, 0, 'systemd', '/usr/lib/systemd/systemd', cgroup='/init.scope'),
    proc(200, 1, 'sshd', '/usr/sbin/sshd'),
    proc(201, 200, 'bash', '/usr/bin/bash'),
    proc(202, 201, 'python3', '/usr/bin/python3.12'),               # ansible's module: protected
    # K3s's shim (outlived the unit, still in its cgroup) and a pod: nginx master + worker,
    # whose command lines name nothing of K3s.
    proc(300, 1, 'containerd-shim', SHIM, cgroup='/system.slice/k3s.service'),
    proc(301, 300, 'pause', '/pause', argv0='/pause',
         cgroup='/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-a.scope'),
    proc(302, 300, 'nginx', '/usr/sbin/nginx', argv0='nginx: master process',
         cgroup='/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-b.scope'),
    proc(303, 302, 'nginx', '/usr/sbin/nginx', argv0='nginx: worker process',
         cgroup='/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-b.scope'),
    proc(304, 302, 'nginx', '/usr/sbin/nginx', state='Z', cgroup='/kubepods/besteffort/pod1/b'),
    # A container process orphaned by an earlier pkill of its shim (reparented to init):
    # only its cgroup tells it is K3s's.
    proc(310, 1, 'redis-server', '/usr/local/bin/redis-server', cgroup='/kubepods/burstable/pod2/c'),
    # A shim started from a deleted data directory (a half-finished removal).
    proc(320, 1, 'containerd-shim', SHIM.replace('8c2b0f', 'old'), cgroup='/system.slice/k3s-agent.service'),
    # Nomad, its task, Docker's containerd and shim, podman's conmon, and k3d (a kubelet in a
    # Docker container, pods below that container's cgroup): none of them K3s's.
    proc(400, 1, 'nomad', '/usr/local/bin/nomad', cgroup='/system.slice/nomad.service'),
    proc(401, 400, 'overseerr', '/usr/bin/node', cgroup='/nomad.slice/share.slice/a1b2.overseerr.scope'),
    proc(500, 1, 'containerd', '/usr/bin/containerd', cgroup='/system.slice/containerd.service'),
    proc(501, 1, 'containerd-shim', '/usr/bin/containerd-shim-runc-v2', cgroup='/system.slice/containerd.service'),
    proc(502, 501, 'traefik', '/traefik', cgroup='/system.slice/docker-5e1f.scope'),
    proc(503, 501, 'k3s', '/bin/k3s', cgroup='/system.slice/docker-9a8b.scope'),
    proc(504, 503, 'coredns', '/coredns', cgroup='/system.slice/docker-9a8b.scope/kubepods/burstable/pod3/d'),
    proc(600, 1, 'conmon', '/usr/bin/conmon', cgroup='/machine.slice/libpod-conmon-7c.scope'),
    proc(601, 1, 'k3s', '/usr/local/bin/k3s', cgroup='/system.slice/k3s-lookalike.service'),
]}


def test_a_shims_whole_tree_goes_and_nothing_else():
    protected = runtime.protected_pids(TABLE, 202)
    assert protected == {1, 200, 201, 202}
    assert runtime.k3s_processes(TABLE, DATA, UNITS, ROOTS, protected) == [300, 301, 302, 303, 310, 320]


def test_container_processes_are_found_through_their_shim_alone():
    """Without the cgroup rules, the tree from the shim still reaches nginx's worker."""
    assert runtime.k3s_processes(TABLE, DATA, [], [], {1}) == [300, 301, 302, 303, 320]


def test_a_data_directory_behind_a_symlink_is_matched_by_its_real_path(tmp_path):
    real = tmp_path / 'srv-k3s'
    (real / 'data').mkdir(parents=True)
    link = tmp_path / 'k3s'
    link.symlink_to(real)
    table = {7: proc(7, 1, 'containerd-shim', str(real / 'data/1/bin/containerd-shim-runc-v2'))}
    assert runtime.k3s_processes(table, str(link), [], [], {1}) == [7]


@pytest.mark.parametrize('text, expected', [
    ('1234 (containerd-shim) S 1 1234 1234 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 11 0 98765 0 0',
     ('containerd-shim', 'S', 1, 98765)),
    ('77 (a) b (c)) Z 5 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0', ('a) b (c)', 'Z', 5, 42)),
])
def test_stat_lines_with_odd_command_names(text, expected):
    assert runtime.parse_stat(text) == expected


def test_cgroup_lines_of_v1_and_v2():
    text = '12:memory:/kubepods/burstable/pod1/a\n1:name=systemd:/system.slice/k3s.service\n0::/kubepods.slice/x\n'
    assert runtime.parse_cgroups(text) == ('/kubepods/burstable/pod1/a', '/system.slice/k3s.service', '/kubepods.slice/x')


MOUNTS = r'''/dev/sda1 / ext4 rw 0 0
tmpfs /run tmpfs rw 0 0
tmpfs /run/k3s tmpfs rw 0 0
shm /run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/5e1f/shm tmpfs rw 0 0
overlay /run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/5e1f/rootfs overlay rw 0 0
tmpfs /var/lib/kubelet/pods/0b7c/volumes/kubernetes.io~projected/kube-api-access-x2v tmpfs rw 0 0
/dev/sdb1 /var/lib/kubelet/pods/0b7c/volumes/kubernetes.io~local-volume/my\040data ext4 rw 0 0
tmpfs /run/k3s-other tmpfs rw 0 0
nsfs /run/netns/cni-4b1d nsfs rw 0 0
/dev/sdb1 /srv/data ext4 rw 0 0
'''


def test_mounts_are_listed_last_mounted_first_with_escapes_decoded():
    points = runtime.parse_mounts(MOUNTS)
    assert runtime.mounts_under(points, ['/var/lib/rancher/k3s', '/run/k3s', '/var/lib/kubelet']) == [
        '/var/lib/kubelet/pods/0b7c/volumes/kubernetes.io~local-volume/my data',
        '/var/lib/kubelet/pods/0b7c/volumes/kubernetes.io~projected/kube-api-access-x2v',
        '/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/5e1f/rootfs',
        '/run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/5e1f/shm',
        '/run/k3s',
    ]


def test_no_mount_outside_the_k3s_paths_is_listed():
    points = runtime.parse_mounts(MOUNTS)
    assert runtime.mounts_under(points, ['/var/lib/rancher/k3s']) == []
    assert '/run/k3s-other' not in runtime.mounts_under(points, ['/run/k3s/'])
