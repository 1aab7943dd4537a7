#!/usr/bin/env bash
# Benchmark (numbers printed, not a timed test): lab cold start (images from scratch),
# lab warm start (cached images, containers recreated), and site.yml on the 3 nodes.
#   ./scripts/bench-lab.sh          # warm start + site.yml (+ idempotent re-run)
#   ./scripts/bench-lab.sh cold     # also rebuild the images from scratch first
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/bootstrap-host.sh >/dev/null
export PATH="$top/.venv/bin:$PATH"
t() { local s; s=$(date +%s.%N); "$@" >/dev/null; python3 -c "print($(date +%s.%N) - $s)"; }

ansible-playbook playbooks/lab.yml -e lab_state=absent >/dev/null
if [ "${1:-}" = cold ]; then
  podman rmi -f localhost/k3s-lab-node:bookworm2-amd64 localhost/k3s-lab-node:bookworm2-arm64 >/dev/null 2>&1 || true
  rm -f "$HOME"/.cache/k3s-migration-lab/*.tar.zst
  printf 'lab cold start (debootstrap amd64+arm64): %6.1f s\n' "$(t ansible-playbook playbooks/lab.yml)"
  ansible-playbook playbooks/lab.yml -e lab_state=absent >/dev/null
fi
warm=$(t ansible-playbook playbooks/lab.yml)
site=$(t ansible-playbook site.yml)
again=$(t ansible-playbook site.yml)
printf 'lab warm start (cached images):          %6.1f s\n' "$warm"
printf 'site.yml on 3 nodes:                     %6.1f s\n' "$site"
printf 'site.yml again (idempotent):             %6.1f s\n' "$again"
printf 'warm start + site.yml:                   %6.1f s (target <= 60 s)\n' "$(python3 -c "print($warm + $site)")"
