#!/usr/bin/env bash
# The Terraform root and modules, statically: fmt, validate (the root and every module,
# providers from the lab's mirror), tflint (recommended preset + the convention's rules,
# terraform/.tflint.hcl), then checkov on the Kubernetes manifests the modules render
# (the root planned offline with every service on; terraform/.checkov.yaml).
#   usage: check.sh MIRROR_DIR   (tests/lab/build-platform.sh's DEST/terraform-mirror)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mirror=$1
cache=${K3S_LAB_CACHE:-$HOME/.cache/k3s-migration-lab}/build
mkdir -p "$cache"
. "$top/tests/lab/lib-build.sh"
tflint_version=v0.61.0
go_install "$cache/tflint-$tflint_version" "tflint@$tflint_version" "" github.com/terraform-linters/tflint
venv="$top/.venv-checkov"
if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$(sed -n 's/^checkov==//p' "$here/requirements.txt")"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["*/*/*"]
  }
  direct {
    exclude = ["*/*/*"]
  }
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_INPUT=0

echo "== terraform fmt"
terraform fmt -check -recursive -diff "$top/terraform"

cp -r "$top/terraform" "$work/root"
for dir in "$work/root" "$work/root"/modules-k8s/*; do
  echo "== terraform validate ${dir#"$work/"}"
  terraform -chdir="$dir" init -backend=false -no-color >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
  terraform -chdir="$dir" validate -no-color
done

echo "== tflint"
(cd "$top/terraform" && "$cache/tflint-$tflint_version/tflint" --recursive --config "$top/terraform/.tflint.hcl" --format compact)

echo "== checkov on the rendered manifests"
printf 'terraform {\n  backend "local" {}\n}\n' > "$work/root/render_override.tf"
cat > "$work/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
users: [{name: none, user: {token: none}}]
KC
printf '{"kubeconfig_path": "%s", "environment": "production", "enable_k8s": {"whoami": true, "whoami_client": true, "overseerr": true}}\n' \
  "$work/kubeconfig" > "$work/root/render.auto.tfvars.json"
terraform -chdir="$work/root" init -reconfigure -no-color >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
terraform -chdir="$work/root" plan -no-color -out="$work/plan" >"$work/plan.log" 2>&1 || { cat "$work/plan.log"; exit 1; }
mkdir "$work/rendered"
terraform -chdir="$work/root" show -json "$work/plan" | python3 -c '
import json, sys
out = sys.argv[1]
changes = json.load(sys.stdin)["resource_changes"]
for rc in changes:
    name = rc["address"].replace("module.", "").replace(".kubectl_manifest.", "-").replace("[0]", "")
    with open("%s/%s.yaml" % (out, name), "w") as f:
        f.write(rc["change"]["after"]["yaml_body"])
print("rendered %d manifests" % len(changes))
' "$work/rendered"
BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" --config-file "$top/terraform/.checkov.yaml" -d "$work/rendered"
echo "terraform checks passed"
