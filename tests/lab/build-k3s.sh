#!/usr/bin/env bash
# LAB BUILD (not product): the lab's K3s release, built here from Go modules, in the
# layout of a K3s release's airgap files, one directory per version:
#   DEST/<version>/k3s                           amd64: the lab launcher + real programs
#   DEST/<version>/k3s-arm64, k3s-armhf           the K3s stand-in (tests/standins/k3s.py)
#   DEST/<version>/sha256sum-<arch>.txt
#   DEST/<version>/k3s-airgap-images-amd64.tar.zst  the images K3s deploys, built here
# The K3s module itself is refused by the Go module proxy (docs/decisions/0008), so the
# amd64 `k3s` is a zip application: tests/lab/k3s/launcher.py (K3s's supervisor role)
# carrying the upstream programs K3s embeds, each built from its own module.
# Every program is cached by version under ~/.cache/k3s-migration-lab/build: a warm run
# builds nothing.
#   usage: build-k3s.sh DEST VERSION...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$1; shift
cache=${K3S_LAB_CACHE:-$HOME/.cache/k3s-migration-lab}/build
mkdir -p "$cache"
. "$here/lib-build.sh"
go_version=$(go env GOVERSION)

# Component versions: what K3s v1.33.5+k3s1 embeds, where the Go module proxy serves it
# (docs/decisions/0008 lists each and the differences).
containerd_version=v2.1.4
cni_version=v1.7.1
flannel_version=v0.27.0
coredns_version=v1.12.3
metrics_server_version=v0.8.0
local_path_version=v0.0.30

# The Kubernetes programs: our multicall main (tests/lab/go/k8s) in a module that requires
# k8s.io/kubernetes at the exact version, with each staging module replaced by its
# published v0.<minor>.<patch> (what k8s.io/kubernetes's own go.mod points at ./staging).
build_k8s() {
  local kube=$1 k3s=$2 out="$cache/k8s-$2"
  [ -x "$out/k8s" ] && return 0
  local work; work=$(mktemp -d "$cache/k8s-src.XXXXXX")
  cp "$here/go/k8s/main.go" "$work/"
  local staging=v0.${kube#v1.}
  (
    cd "$work"
    go mod init k3s-migration.lab/k8s >/dev/null 2>&1
    go mod edit -go=1.24.0 -require="k8s.io/kubernetes@$kube"
    upstream=$(go mod download -json "k8s.io/kubernetes@$kube" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$upstream" | while read -r m; do
      go mod edit -replace="$m=$m@$staging"
    done
    go mod tidy >/dev/null
    local minor=${kube#v1.}; minor=${minor%%.*}
    local ld="-s -w" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=$k3s -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
      ld="$ld -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    done
    say "go build k8s $kube (as $k3s)"
    go build -trimpath -ldflags "$ld" -o "$out/k8s.tmp" .
  )
  mv "$out/k8s.tmp" "$out/k8s"
  rm -rf "$work"
}

build_programs() {
  local ctrd=github.com/containerd/containerd/v2 cni=github.com/containernetworking/plugins/plugins
  go_install "$cache/containerd-$containerd_version" "$ctrd@$containerd_version" no_btrfs,no_devmapper,no_zfs \
    "$ctrd/cmd/containerd" "$ctrd/cmd/containerd-shim-runc-v2" "$ctrd/cmd/ctr"
  go_install "$cache/cni-$cni_version" "$cni@$cni_version" "" \
    "$cni/main/bridge" "$cni/main/loopback" "$cni/ipam/host-local" "$cni/meta/portmap" "$cni/meta/bandwidth" \
    "$cni/meta/firewall"
  if [ ! -x "$cache/flannel-$flannel_version/flanneld" ]; then
    # flannel's own main imports every cloud backend (tencentvpc's SDK is not served):
    # our main (tests/lab/go/flannel) takes vxlan and host-gw, like K3s's embedded flannel.
    local work; work=$(mktemp -d "$cache/src.XXXXXX")
    cp "$here/go/flannel/main.go" "$work/"
    (
      cd "$work"
      go mod init k3s-migration.lab/flannel >/dev/null 2>&1
      go mod edit -require="github.com/flannel-io/flannel@$flannel_version"
      go mod tidy >get.log 2>&1 || { cat get.log >&2; exit 1; }
      say "go build flanneld $flannel_version"
      mkdir -p "$cache/flannel-$flannel_version"
      go build -trimpath -ldflags '-s -w' -o "$cache/flannel-$flannel_version/flanneld.tmp" .
    )
    mv "$cache/flannel-$flannel_version/flanneld.tmp" "$cache/flannel-$flannel_version/flanneld"
    rm -rf "$work"
  fi
  go_install "$cache/coredns-$coredns_version" "coredns@$coredns_version" "" github.com/coredns/coredns
  go_install "$cache/metrics-server-$metrics_server_version" "metrics-server@$metrics_server_version" "" \
    sigs.k8s.io/metrics-server/cmd/metrics-server
  go_install "$cache/local-path-$local_path_version" "local-path@$local_path_version" "" \
    github.com/rancher/local-path-provisioner
  if [ ! -x "$cache/pause/pause" ]; then
    say "go build pause"
    (cd "$here/go/pause" && go build -trimpath -ldflags '-s -w' -o "$cache/pause/pause" .)
  fi
}

# The images K3s deploys, under the names the release references, from scratch + the
# program; the helper image is Debian's busybox-static.
build_images() {
  local archive="$cache/images-amd64-$(cat "$here/k3s/images.txt" "$0" "$here/lib-build.sh" | sha256sum | cut -c1-12).tar.zst"
  if [ ! -s "$archive" ]; then
    local ctx; ctx=$(mktemp -d "$cache/images.XXXXXX")
    local names=() name bin entry
    while read -r name bin entry; do
      case $name in ''|'#'*) continue;; esac
      mkdir -p "$ctx/$name"
      if [ "$bin" = busybox ]; then
        busybox_rootfs "$ctx/$name"
        printf 'FROM scratch\nCOPY bin /bin\nENV PATH=/bin\nCMD ["/bin/sh"]\n' > "$ctx/$name/Containerfile"
      else
        cp "$cache/$bin" "$ctx/$name/program"
        printf 'FROM scratch\nCOPY program %s\nENTRYPOINT ["%s"]\n' "$entry" "$entry" > "$ctx/$name/Containerfile"
      fi
      image_from_scratch "$name" "$ctx/$name"
      names+=("$name")
    done < "$here/k3s/images.txt"
    podman save -q -m --format docker-archive "${names[@]}" | zstd -q -T0 -o "$archive.tmp"
    mv "$archive.tmp" "$archive"
    rm -rf "$ctx"
  fi
  echo "$archive"
}

# The zip application that stands in the release's `k3s`: launcher + programs + manifests.
build_k3s_zip() {
  local version=$1 out=$2 k8s_dir="$cache/k8s-$1"
  python3 - "$here/k3s/launcher.py" "$here/k3s/manifests" "$out" "$version" "$go_version" \
    "$k8s_dir/k8s" "$cache/containerd-$containerd_version"/* "$cache/cni-$cni_version"/* \
    "$cache/flannel-$flannel_version/flanneld" "$(command -v runc)" <<'EOF'
import os, sys, zipfile
launcher, manifests, out, version, go_version, *programs = sys.argv[1:]
src = open(launcher).read()
src = src.replace("VERSION = 'v0.0.0+lab'", "VERSION = %r" % version)
src = src.replace("GO_VERSION = 'unknown'", "GO_VERSION = %r" % go_version)
tmp = out + '.tmp'
with open(tmp, 'wb') as raw:
    raw.write(b'#!/usr/bin/python3\n')
    with zipfile.ZipFile(raw, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        def add(arcname, path=None, data=None):
            info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o755 << 16
            if data is None:
                with open(path, 'rb') as handle:
                    data = handle.read()
            z.writestr(info, data, compresslevel=1)
        add('__main__.py', data=src.encode())
        for p in sorted(programs):
            add('bin/' + os.path.basename(p), p)
        for m in sorted(os.listdir(manifests)):
            add('manifests/' + m, os.path.join(manifests, m))
os.chmod(tmp, 0o755)
os.replace(tmp, out)
EOF
}

build_programs
images=$(build_images)
for version in "$@"; do
  kube=${version%%+*}
  build_k8s "$kube" "$version"
  dir="$dest/$version"
  mkdir -p "$dir"
  zip="$cache/k3s-$version-$( (cat "$here/k3s/launcher.py" "$0" "$here/lib-build.sh"; ls "$here/k3s/manifests"; cat "$here"/k3s/manifests/*) | sha256sum | cut -c1-12).pyz"
  [ -s "$zip" ] || { say "k3s $version"; build_k3s_zip "$version" "$zip"; }
  cmp -s "$zip" "$dir/k3s" 2>/dev/null || cp "$zip" "$dir/k3s"
  cmp -s "$images" "$dir/k3s-airgap-images-amd64.tar.zst" 2>/dev/null || cp "$images" "$dir/k3s-airgap-images-amd64.tar.zst"
  (cd "$dir" && sha256sum k3s k3s-airgap-images-amd64.tar.zst > sha256sum-amd64.txt.new && \
    { cmp -s sha256sum-amd64.txt.new sha256sum-amd64.txt && rm sha256sum-amd64.txt.new || mv sha256sum-amd64.txt.new sha256sum-amd64.txt; })
done
# arm64/armhf: the K3s stand-in (tests/lab/prepare-airgap.sh), which joins the real server.
"$here/prepare-airgap.sh" "$dest" "$@"
