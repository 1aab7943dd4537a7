#!/usr/bin/env bash
# Build one lab base image (Debian bookworm + systemd) for ARCH (amd64|arm64) and
# cache it as a zstd podman archive. Idempotent: an image already in podman storage is
# left alone; a cached archive is loaded instead of rebuilding.
#   usage: build-image.sh ARCH IMAGE CACHE_DIR
set -euo pipefail
arch=$1 image=$2 cache=$3
archive="$cache/$(echo "$image" | tr '/:' '__').tar.zst"

if podman image exists "$image"; then
  echo "image $image: present"; exit 0
fi
mkdir -p "$cache"
if [ -s "$archive" ]; then
  zstd -dc "$archive" | podman load -q >/dev/null
  echo "image $image: loaded from $archive"; exit 0
fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
pkgs=systemd,systemd-sysv,dbus,python3,iproute2,iptables,procps,kmod,ca-certificates,openssl,zstd

root=$(mktemp -d "$cache/rootfs-$arch.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --arch="$arch" --include="$pkgs" bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"

if [ "$arch" = amd64 ]; then
  # hestia (the only amd64 node) runs firewalld like the operator's Fedora host. It is
  # installed after debootstrap: its polkitd dependency cannot be configured mid-bootstrap.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
  chroot "$root" apt-get update -qq >/dev/null
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    firewalld nftables >"$root.apt.log" 2>&1 || { tail -n 30 "$root.apt.log" >&2; exit 1; }
  rm -f "$root/usr/sbin/policy-rc.d" "$root.apt.log"
fi

mask() { ln -sf /dev/null "$root/etc/systemd/system/$1"; }
# A privileged systemd container must not touch the host's binfmt registrations
# (it would wipe qemu-aarch64 and every arm64 container would fail to exec).
mask systemd-binfmt.service
mask proc-sys-fs-binfmt_misc.automount
mask proc-sys-fs-binfmt_misc.mount
# Units that have nothing to do in a container and only slow the boot.
mask getty@tty1.service
mask systemd-networkd-wait-online.service
stop_signal=37
if [ "$arch" = arm64 ]; then
  # Under qemu-user these units fail with 243/CREDENTIALS; e2scrub has no disks here.
  for u in systemd-sysusers systemd-tmpfiles-setup systemd-tmpfiles-setup-dev \
           systemd-tmpfiles-clean systemd-sysctl procps systemd-firstboot; do
    mkdir -p "$root/etc/systemd/system/$u.service.d"
    printf '[Service]\nLoadCredential=\n' > "$root/etc/systemd/system/$u.service.d/lab.conf"
  done
  mask e2scrub_reap.service
  # SIGRTMIN+3 from the host does not reach emulated systemd; 39 halts it quickly.
  stop_signal=39
fi
echo "k3s-lab-$arch" > "$root/etc/hostname"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

podman_arch=(--arch "$arch")
[ "$arch" = arm64 ] && podman_arch+=(--variant v8)
tar -C "$root" --numeric-owner -cf - . \
  | podman import "${podman_arch[@]}" --change 'CMD ["/sbin/init"]' \
      --change "STOPSIGNAL $stop_signal" - "$image" >/dev/null
podman save "$image" | zstd -q -T0 -o "$archive.tmp" && mv "$archive.tmp" "$archive"
echo "image $image: built and cached in $archive"
