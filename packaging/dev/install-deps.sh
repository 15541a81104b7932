#!/usr/bin/env bash
# Install what building SMO needs (Debian 12, as root): `install-deps.sh`
# for the daemon, `install-deps.sh --test` for the test suite as well.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
            libuv1-dev libyaml-dev libjansson-dev libcurl4-openssl-dev
            libsqlite3-dev libpq-dev coinor-libcbc-dev
            libh2o-dev libssl-dev zlib1g-dev)
test_pkgs=(libcmocka-dev python3 openssl ca-certificates
           clang libclang-rt-14-dev clang-format time procps
           postgresql dpkg-dev file systemd adduser chromium
           docker-registry prometheus prometheus-alertmanager)
# kubectl checks the fake Karmada API server against the real client.
# Debian's kubernetes-client ships /usr/bin/kubectl, which another package
# (a vendor's "kubectl") may already own: that one is kept then.
if ! command -v kubectl >/dev/null 2>&1; then
  test_pkgs+=(kubernetes-client)
fi

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
  pkgs+=("${test_pkgs[@]}")
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (it calls apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "install-deps.sh: ${#pkgs[@]} packages present"
