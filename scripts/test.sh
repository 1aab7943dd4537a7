#!/usr/bin/env bash
# The whole test suite, from a bare machine: bootstrap, then every stage in order.
# Each stage logs to tests/output/<stage>.log; a failed stage prints its log's tail.
#   ./scripts/test.sh                 # everything
#   ./scripts/test.sh unit lint       # only the named stages
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/bootstrap-host.sh || { echo "bootstrap failed"; exit 1; }
export PATH="$top/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
# Resolve brmartin.k3s_migration from this checkout only (collections/ holds a symlink to
# it): molecule and ansible-lint then skip installing a copy into ~/.ansible/collections,
# where a stale copy from an earlier run would shadow the code under test.
export ANSIBLE_COLLECTIONS_PATH="$top/collections"
rm -rf "$HOME/.ansible/collections/ansible_collections/brmartin/k3s_migration"
out="$top/tests/output"
mkdir -p "$out"

stage_unit()      { python -m pytest -q -p no:cacheprovider tests/unit; }
# Real Litestream, SeaweedFS (S3), OpenBao and Traefik on loopback, started by the tests.
stage_integration() { python -m pytest -q -p no:cacheprovider tests/integration; }
stage_lint()      { ansible-lint --nocolor && antsibull-changelog lint; }
stage_build()     { d=$(mktemp -d) && ansible-galaxy collection build --output-path "$d" . && rm -rf "$d"; }
stage_sanity()    { bash tests/run-sanity.sh; }
# The background build (below), waited for by the stages that need it - also from molecule's
# background job, which cannot `wait` for a sibling: the build leaves its exit code in a file.
wait_build() {
  [ -n "${k3s_build_pid:-}" ] || return 0
  while [ ! -s "$out/build-k3s.rc" ]; do
    # a build killed before it wrote its exit code must not be waited for until CI's timeout
    kill -0 "$k3s_build_pid" 2>/dev/null || [ -s "$out/build-k3s.rc" ] ||
      { echo "the lab's build stopped without an exit code:"; tail -n 40 "$out/build-k3s.log"; return 1; }
    sleep 5
  done
  [ "$(cat "$out/build-k3s.rc")" -eq 0 ] || { echo "the lab's build failed:"; tail -n 40 "$out/build-k3s.log"; return 1; }
}
# fmt, validate, tflint and checkov on terraform/ (providers from the lab's mirror).
stage_terraform() { wait_build && tests/terraform/check.sh "$HOME/.cache/k3s-migration-lab/platform/terraform-mirror"; }
stage_molecule()  {
  local s rc=0
  wait_build || return 1
  for s in default ha mixed conflicts; do
    molecule reset -s "$s" >/dev/null 2>&1 || true
    molecule test -s "$s" || { rc=1; break; }
  done
  return $rc
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit integration lint build sanity terraform molecule)
# The lab's K3s (Kubernetes, containerd, flannel, images from their Go modules, cached by
# version) and the platform's images, chart and Helm build in the background while the
# stages that do not need them run.
case " ${stages[*]} " in
  *" molecule "*|*" terraform "*)
    mapfile -t k3s_versions < <(grep -v '^#' tests/lab/k3s/versions.txt)
    rm -f "$out/build-k3s.rc"
    { tests/lab/build-k3s.sh "$HOME/.cache/k3s-migration-lab/airgap" "${k3s_versions[@]}" &&
      tests/lab/build-platform.sh "$HOME/.cache/k3s-migration-lab/platform"; echo $? >"$out/build-k3s.rc"; } \
      >"$out/build-k3s.log" 2>&1 &
    k3s_build_pid=$!
    ;;
esac
passed=0 failed=0 failed_names=()
# Runs one stage into its log; prints its result and, on failure, its log's tail.
run_stage() {
  local s=$1 start rc=0
  start=$(date +%s)
  "stage_$s" >"$out/$s.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf '==> %s\n    ok (%ss)\n' "$s" $(( $(date +%s) - start ))
    case $s in unit|integration) tail -n 1 "$out/$s.log" | sed 's/^/    /';; esac
  else
    printf '==> %s\n    FAILED (%ss); last lines of %s:\n' "$s" $(( $(date +%s) - start )) "$out/$s.log"
    tail -n 60 "$out/$s.log" | sed 's/^/    | /'
  fi
  return "$rc"
}
# molecule (the lab: most of the time, and mostly waiting on K3s, pods and timers) starts
# first and the other stages run beside it, one after another; its result comes last.
molecule_pid=''
case " ${stages[*]} " in
  *" molecule "*)
    run_stage molecule >"$out/molecule.result" 2>&1 &
    molecule_pid=$!
    ;;
esac
for s in "${stages[@]}"; do
  [ "$s" = molecule ] && continue
  if run_stage "$s"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$s"); fi
done
if [ -n "$molecule_pid" ]; then
  if wait "$molecule_pid"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=(molecule); fi
  cat "$out/molecule.result"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed stages: ${failed_names[*]}"; exit 1; }
