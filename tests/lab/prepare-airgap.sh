#!/usr/bin/env bash
# LAB SCAFFOLDING: the arm64 and armhf files of the lab's K3s airgap directories, whose
# binaries are the K3s stand-in (tests/standins/k3s.py): k3s-arm64, k3s-armhf,
# sha256sum-<arch>.txt and k3s-airgap-images-<arch>.tar.zst. The amd64 files are the
# real build (tests/lab/build-k3s.sh, which calls this). The lab builds no arm64
# Kubernetes, and emulated arm64 has no netfilter (README, "The lab").
#   usage: prepare-airgap.sh DEST_DIR VERSION...   (one subdirectory per version)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$1; shift
for version in "$@"; do
  dir="$dest/$version"
  mkdir -p "$dir"
  tmp=$(mktemp)
  { echo '#!/usr/bin/python3'; sed "s/^VERSION = .*/VERSION = '$version'  # lab stand-in/" "$here/../standins/k3s.py"; } > "$tmp"
  for pair in arm64:k3s-arm64 arm:k3s-armhf; do
    arch=${pair%%:*} bin=${pair#*:}
    # One byte per arch keeps the three binaries (and their checksums) distinct, as in a release.
    { cat "$tmp"; echo "# stand-in build for $arch"; } > "$dir/.$bin.new"
    cmp -s "$dir/.$bin.new" "$dir/$bin" 2>/dev/null && rm "$dir/.$bin.new" || mv "$dir/.$bin.new" "$dir/$bin"
    chmod 0755 "$dir/$bin"
    images="k3s-airgap-images-$arch.tar.zst"
    [ -s "$dir/$images" ] || printf 'lab stand-in image archive for %s %s\n' "$version" "$arch" | zstd -q -o "$dir/$images"
    (cd "$dir" && sha256sum "$bin" "$images" > "sha256sum-$arch.txt")
  done
  rm -f "$tmp"
done
