#!/usr/bin/env bash
# Build the Debian packages, install them with dpkg on this machine (as
# root), and check what was installed: the unit passes systemd-analyze
# verify, the default configuration is valid, the installed daemon serves
# and deploys the example HDAG through the installed smoctl, and the SDK
# example plugin builds out of tree against the installed smo-dev and
# loads into the installed smod.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
b=$root/build/pkg

cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DSMO_BUILD_TESTS=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc \
  -DCMAKE_INSTALL_LOCALSTATEDIR=/var >/dev/null
cmake --build "$b" -j"$(nproc)" >/dev/null
rm -f "$b"/*.deb
(cd "$b" && cpack -G DEB >/dev/null)
ls "$b"/*.deb
dpkg -i "$b"/smo_*.deb "$b"/smo-dev_*.deb >/dev/null
echo "installed: $(dpkg-query -W -f '${Package} ${Version}, ' smo smo-dev)"

getent passwd smo >/dev/null || { echo "no smo user" >&2; exit 1; }
systemd-analyze verify /usr/lib/systemd/system/smod.service
echo "systemd-analyze verify: clean"
/usr/bin/smod check-config --conf /etc/smo/conf.d

tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SMO_LISTEN=127.0.0.1:$port /usr/bin/smod run --conf /etc/smo/conf.d \
  --data "$tmp/data" >"$tmp/smod.log" 2>&1 &
pid=$!
export SMO_URL=http://127.0.0.1:$port
for _ in $(seq 1 100); do
  /usr/bin/smoctl health >/dev/null 2>&1 && break
  kill -0 "$pid" || { cat "$tmp/smod.log"; exit 1; }
  sleep 0.1
done
/usr/bin/smoctl graph deploy -p smoke \
  /usr/share/smo/examples/hdag/hello-world.yaml --wait >"$tmp/deploy.out"
grep -q "Running" "$tmp/deploy.out" || { cat "$tmp/deploy.out"; exit 1; }
echo "installed smod deployed hello-world-graph: $(grep hello-world "$tmp/deploy.out" | tail -1 | tr -s ' ')"
kill "$pid"
wait "$pid"
echo "installed smod stopped cleanly"

cp -r sdk/examples/hello_solver "$tmp/hello"
make -s -C "$tmp/hello" >/dev/null
# Captured first: grep -q would close the pipe early (SIGPIPE + pipefail).
/usr/bin/smod plugins --plugin-dir "$tmp/hello" >"$tmp/plugins.out"
grep -q "^solver hello" "$tmp/plugins.out" || { cat "$tmp/plugins.out"; exit 1; }
echo "SDK example built against smo-dev and loaded by the installed smod"
