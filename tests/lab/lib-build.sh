# LAB BUILD helpers (sourced by build-k3s.sh and build-platform.sh, not product).
# Needs: $cache (the build cache directory).
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local

say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# go_install OUT_DIR NAME@VERSION TAGS PKG...: programs of one module, built through a
# wrapper module of ours (`go get -tool`), because `go install pkg@version` refuses
# modules whose go.mod has replace or exclude lines (containerd, flannel, VPA).
# LDFLAGS_EXTRA adds -X flags. Each program is skipped when OUT_DIR already holds it.
go_install() {
  local out=$1 modver=$2 tags=$3; shift 3
  local pkg missing=()
  for pkg in "$@"; do [ -x "$out/${pkg##*/}" ] || missing+=("$pkg"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  local work; work=$(mktemp -d "$cache/src.XXXXXX")
  mkdir -p "$out"
  (
    cd "$work"
    go mod init k3s-migration.lab/wrapper >/dev/null 2>&1
    for pkg in "${missing[@]}"; do
      go get -tool "$pkg@${modver#*@}" >get.log 2>&1 || { cat get.log >&2; exit 1; }
    done
    for pkg in "${missing[@]}"; do
      say "go build $pkg ${modver#*@}"
      go build -trimpath -ldflags "-s -w ${LDFLAGS_EXTRA:-}" ${tags:+-tags "$tags"} -o "$out/${pkg##*/}.tmp" "$pkg"
      mv "$out/${pkg##*/}.tmp" "$out/${pkg##*/}"
    done
  )
  rm -rf "$work"
}

# image_from_scratch NAME CONTEXT: build an amd64 image FROM scratch out of CONTEXT, whose
# Containerfile the caller wrote, labelled as a lab build.
image_from_scratch() {
  say "image $1"
  podman build -q --platform linux/amd64 --label "org.opencontainers.image.description=k3s-migration lab build" \
    -t "$1" -f "$2/Containerfile" "$2" >/dev/null
}

# busybox_rootfs DIR: Debian's busybox-static with the applets the lab's images use.
busybox_rootfs() {
  local applet
  mkdir -p "$1/bin"
  cp /bin/busybox "$1/bin/busybox"
  for applet in sh ls mkdir rm rmdir cat chmod chown cp mv sleep echo test wget nc httpd dd \
                head sha256sum seq; do
    ln -sf busybox "$1/bin/$applet"
  done
}
