#!/usr/bin/env bash
# Benchmark (numbers printed, not a timed test) of the lab with real K3s:
#   the K3s build (cold: empty build cache and Go caches; warm: everything cached),
#   lab start, site.yml, the idempotent re-run, the rollback, and per-node RSS of K3s
#   with its containerd after IDLE seconds (default 300) idle; the platform stage from
#   absent to all Ready, and the RSS of each platform component.
#   ./scripts/bench-lab.sh [cold] [--layout amd64|mixed] [--idle SECONDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/bootstrap-host.sh >/dev/null
export PATH="$top/.venv/bin:$PATH"
cold=no layout=amd64 idle=300
while [ $# -gt 0 ]; do
  case $1 in
    cold) cold=yes;;
    --layout) layout=$2; shift;;
    --idle) idle=$2; shift;;
    *) echo "usage: $0 [cold] [--layout amd64|mixed] [--idle SECONDS]" >&2; exit 2;;
  esac
  shift
done
case $layout in amd64) inv=inventory/lab/hosts-amd64.yml;; mixed) inv=inventory/lab/hosts.yml;; *) exit 2;; esac
cache=$HOME/.cache/k3s-migration-lab
mapfile -t versions < <(grep -v '^#' tests/lab/k3s/versions.txt)
t() { local s; s=$(date +%s.%N); "$@" >/dev/null; python3 -c "print(round($(date +%s.%N) - $s, 1))"; }
row() { printf '%-52s %8s\n' "$1" "$2"; }

if [ "$cold" = yes ]; then
  rm -rf "$cache/build" "$cache/airgap"
  go clean -cache -modcache
  row "K3s build, cold (${versions[*]}) s" "$(t tests/lab/build-k3s.sh "$cache/airgap" "${versions[@]}")"
fi
row "K3s build, warm (nothing to build) s" "$(t tests/lab/build-k3s.sh "$cache/airgap" "${versions[@]}")"
ansible-playbook -i "$inv" playbooks/lab.yml -e lab_state=absent >/dev/null
row "lab start ($layout, cached images) s" "$(t ansible-playbook -i "$inv" playbooks/lab.yml)"
row "site.yml, first run s" "$(t ansible-playbook -i "$inv" site.yml)"
row "site.yml, idempotent re-run s" "$(t ansible-playbook -i "$inv" site.yml)"
sleep "$idle"
for node in $(podman ps --filter label=k3s-migration-lab=true --format '{{.Names}}' | sort); do
  # K3s here is the launcher and every program it runs from the data directory
  # (etcd, the control plane, kubelet, kube-proxy, flannel, containerd); pods excluded.
  for field in Rss Pss; do  # RSS counts the shared multicall binary per process; PSS shares it
    kib=$(podman exec "$node" sh -c 'total=0; for p in $(pgrep -f "^(/usr/bin/python3 /usr/local/bin/k3s|/var/lib/rancher/k3s/data/)"); do
        case $(tr "\0" " " < /proc/$p/cmdline) in *containerd-shim*) continue;; esac
        r=$(awk "/^'"$field"':/ {print \$2}" /proc/$p/smaps_rollup 2>/dev/null); total=$((total + ${r:-0})); done; echo $total')
    row "$field of K3s + containerd on $node after ${idle}s idle MiB" "$((kib / 1024))"
  done
done
# The platform stage alone: absent, then present until every Deployment is Ready (the
# role waits for the VPA release and the entry point), then each component's RSS.
ansible-playbook -i "$inv" molecule/resources/platform.yml -e platform_state=absent >/dev/null
row "platform: absent -> present, all Ready s" "$(t ansible-playbook -i "$inv" molecule/resources/platform.yml)"
sleep 60
for program in /recommender /updater /admission-controller /traefik /bin/external-secrets; do
  kib=0
  for node in $(podman ps --filter label=k3s-migration-lab=true --format '{{.Names}}'); do
    n=$(podman exec "$node" sh -c 'total=0; for p in $(pgrep -x -f "'"$program"'.*"); do
        r=$(awk "/^VmRSS:/ {print \$2}" /proc/$p/status 2>/dev/null); total=$((total + ${r:-0})); done; echo $total')
    kib=$((kib + n))
  done
  row "platform: RSS of ${program##*/} (all replicas) MiB" "$((kib / 1024))"
  platform_kib=$((${platform_kib:-0} + kib))
done
row "platform: RSS of all its components MiB" "$((platform_kib / 1024))"
echo "operator's budget on the Pis: memory is tight; Consul Connect's Envoy sidecars cost 256-512 MB each,"
echo "the K8s control plane ~500 MB per node against ~160 MB for the Nomad + Consul agents"
row "rollback s" "$(t ansible-playbook -i "$inv" playbooks/rollback.yml)"
echo "operator's figures: ~500 MB per node for K8s, ~160 MB for the Nomad + Consul agents"
