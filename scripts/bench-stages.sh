#!/usr/bin/env bash
# Benchmark (numbers printed, not a timed test): site.yml per stage (play) and per host -
# wall time, tasks run, changed, seconds in tasks (the stage_profile callback) - for
#   1. the first converge on a fresh lab,
#   2. the idempotent re-run,
#   3. an upgrade to the lab's second K3s version (with when each node's K3s restarted
#      and became active, to show one node at a time),
#   4. the re-run after the upgrade.
#   ./scripts/bench-stages.sh [--layout amd64|mixed] [--keep]
# The lab is started fresh and removed at the end (--keep leaves it running).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/bootstrap-host.sh >/dev/null
export PATH="$top/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$top/collections" ANSIBLE_NOCOLOR=1
export ANSIBLE_CALLBACKS_ENABLED=brmartin.k3s_migration.stage_profile
layout=amd64 keep=no
while [ $# -gt 0 ]; do
  case $1 in
    --layout) layout=$2; shift;;
    --keep) keep=yes;;
    *) echo "usage: $0 [--layout amd64|mixed] [--keep]" >&2; exit 2;;
  esac
  shift
done
case $layout in amd64) inv=inventory/lab/hosts-amd64.yml;; mixed) inv=inventory/lab/hosts.yml;; *) exit 2;; esac
mapfile -t versions < <(grep -v '^#' tests/lab/k3s/versions.txt)
logs=$(mktemp -d)
tests/lab/build-k3s.sh "$HOME/.cache/k3s-migration-lab/airgap" "${versions[@]}" >"$logs/build.log"

# Runs site.yml, prints its wall time and the profile table.
run() {
  local title=$1; shift
  local s rc=0
  s=$(date +%s.%N)
  ansible-playbook -i "$inv" site.yml "$@" >"$logs/run.log" 2>&1 || rc=$?
  printf '\n== %s: %s s (rc %s)\n' "$title" "$(python3 -c "print(round($(date +%s.%N) - $s, 1))")" "$rc"
  sed -n '/^STAGE PROFILE/,$p' "$logs/run.log" | tail -n +2 | grep -v '^$'
  [ "$rc" -eq 0 ] || { tail -n 40 "$logs/run.log"; exit 1; }
}

ansible-playbook -i "$inv" playbooks/lab.yml -e lab_state=absent >/dev/null
ansible-playbook -i "$inv" playbooks/lab.yml >/dev/null
run "site.yml, first converge ($layout)"
run "site.yml, idempotent re-run ($layout)"
run "site.yml, upgrade to ${versions[1]} ($layout)" -e "k3s_version=${versions[1]}"
echo "   when each node's K3s started and became active (monotonic seconds, one kernel):"
servers=" $(ansible -i "$inv" k3s_server --list-hosts | tail -n +2 | xargs) "
for node in $(ansible -i "$inv" k3s_cluster --list-hosts | tail -n +2); do
  case $servers in *" $node "*) unit=k3s;; *) unit=k3s-agent;; esac
  podman exec "k3s-lab-$node" systemctl show -P ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic "$unit" \
    | paste -sd' ' | awk -v n="$node" '{printf "   %-10s started %9.1f  active %9.1f\n", n, $1 / 1e6, $2 / 1e6}'
done
run "site.yml, re-run after the upgrade ($layout)" -e "k3s_version=${versions[1]}"
[ "$keep" = yes ] || ansible-playbook -i "$inv" playbooks/lab.yml -e lab_state=absent >/dev/null
rm -rf "$logs"
