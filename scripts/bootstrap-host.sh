#!/usr/bin/env bash
# Prepare a bare Debian 12 machine (root) to run the lab and the test suite:
# apt packages, the podman runtime settings this kind of host needs, qemu binfmt
# for the arm64 lab nodes, and the pinned Python 3.12 virtualenv in .venv.
# Safe to run again: every step checks before it changes anything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

apt_pkgs=(podman runc debootstrap qemu-user-static binfmt-support iptables iproute2 zstd
          uidmap fuse-overlayfs slirp4netns netavark aardvark-dns git rsync busybox-static)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# crun cannot run on this host's hybrid cgroups and the default ulimits fail with EPERM.
conf=/etc/containers/containers.conf
want='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
[network]
network_backend = "netavark"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$conf"
fi

# arm64 lab nodes run under qemu-user: the registrations do not happen on their own here.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64

# Python 3.12 virtualenv with the pinned tool chain (ansible 14.x needs Python >= 3.12).
find_python312() {
  local c
  for c in "${PYTHON:-}" python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}
py=$(find_python312) || { echo "bootstrap: Python 3.12 not found (set PYTHON=/path/to/python3.12)" >&2; exit 1; }
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
  rm -rf .venv
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha256
sum=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
  # (this machine's pip.conf lists index folders that may not exist: drop that noise)
  .venv/bin/python -m pip install -q -r requirements.txt -r requirements-test.txt 2>&1 \
    | { grep -v "^WARNING: Location .* is ignored" || true; }
  echo "$sum" > "$stamp"
fi
# Terraform for the apps stage and its checks: the machine's when it has one (>= 1.2, 1.x),
# otherwise Terraform 1.5.7 (the last MPL release) built from its Go module into .venv/bin.
if ! command -v terraform >/dev/null 2>&1 && [ ! -x .venv/bin/terraform ]; then
  out="$HOME/.cache/k3s-migration-lab/build/terraform-v1.5.7"
  if [ ! -x "$out/terraform" ]; then
    echo "bootstrap: go install github.com/hashicorp/terraform@v1.5.7"
    mkdir -p "$out"
    GOBIN="$out" CGO_ENABLED=0 GOTOOLCHAIN=local PATH=/usr/local/go/bin:$PATH \
      go install -trimpath -ldflags '-s -w' github.com/hashicorp/terraform@v1.5.7
  fi
  ln -sf "$out/terraform" .venv/bin/terraform
fi
# (sed reads all its input: head would close the pipe and ansible print a BrokenPipe traceback)
echo "bootstrap: host ready ($(.venv/bin/ansible --version | sed -n 1p); $(PATH=$top/.venv/bin:$PATH terraform version 2>/dev/null | sed -n 1p))"
