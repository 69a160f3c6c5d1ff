#!/bin/sh
# Builds a small image from Debian's busybox-static, for the example and the
# tests: no registry is reachable here, so images are made locally.
# Usage: build-image.sh [TAG]     (default slipway-example/busybox:1)
set -eu
tag="${1:-slipway-example/busybox:1}"
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "image $tag is on the Docker host"
    exit 0
fi
busybox="$(command -v busybox || true)"
if [ -z "$busybox" ] || ! "$busybox" --list >/dev/null 2>&1; then
    echo "build-image.sh: busybox is missing: install Debian's busybox-static (scripts/test does)" >&2
    exit 1
fi
# An empty image has no C library: only a statically linked busybox runs there.
if ldd "$busybox" >/dev/null 2>&1; then
    echo "build-image.sh: $busybox is dynamically linked: install Debian's busybox-static (scripts/test does)" >&2
    exit 1
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' - "$tag" >/dev/null
echo "built image $tag"
