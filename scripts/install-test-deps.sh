#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine:
# sitegen itself with its test extras (pip) and the real servers the tests drive (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
# The browser tests drive Debian's Chromium through its ChromeDriver (never a downloaded browser);
# fonts-dejavu-core gives the screenshots the same font on every machine.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
# skopeo pushes the v2 tests' images into the real registry and pulls them from the mirror.
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # Installing nginx must not leave a system nginx running on port 80.
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The real v2 registry (Debian's docker-registry, CNCF distribution 2.8). Installing the package
# would enable a service, so its .deb is only unpacked (no maintainer script runs) where
# tests/support/registry.py looks for it.
registry_root="${SITEGEN_DOCKER_REGISTRY_ROOT:-/opt/docker-registry}"
if [ ! -x "$registry_root/usr/bin/docker-registry" ]; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    deb_dir="$(mktemp -d)"
    (cd "$deb_dir" && { apt-get download -qq docker-registry 2>/dev/null \
        || { $SUDO apt-get update -qq && apt-get download -qq docker-registry; }; })
    $SUDO mkdir -p "$registry_root"
    $SUDO dpkg-deb -x "$deb_dir"/docker-registry_*.deb "$registry_root"
    rm -rf "$deb_dir"
fi
python3 -m pip install -q -e '.[test]'
