#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite store, simulated clusters):
# install the build dependencies, build a release, start smod on conf.d/ in
# the background, deploy the example HDAG through the REST API with smoctl
# and show where each service went. The daemon keeps serving; the script
# says how to stop it. Each run starts from an empty demo data directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

bash packaging/dev/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null
echo "built build/release/bin/smod"

demo=$root/build/demo
mkdir -p "$demo"
if [ -f "$demo/smod.pid" ] && kill -0 "$(cat "$demo/smod.pid")" 2>/dev/null; then
  echo "stopping the previous demo daemon (pid $(cat "$demo/smod.pid"))"
  kill "$(cat "$demo/smod.pid")"
  for _ in $(seq 1 100); do
    kill -0 "$(cat "$demo/smod.pid")" 2>/dev/null || break
    sleep 0.1
  done
fi

rm -rf "$demo/data"
mkdir -p "$demo/data"

smod=$root/build/release/bin/smod
smoctl=$root/build/release/bin/smoctl
export SMO_LISTEN=${SMO_LISTEN:-127.0.0.1:8000}
export SMO_URL=http://$SMO_LISTEN
"$smod" check-config --conf "$root/conf.d"
"$smod" run --conf "$root/conf.d" --data "$demo/data" >"$demo/smod.log" 2>&1 &
echo $! >"$demo/smod.pid"
for _ in $(seq 1 100); do
  grep -q "ready in" "$demo/smod.log" && break
  if ! kill -0 "$(cat "$demo/smod.pid")" 2>/dev/null; then
    cat "$demo/smod.log"
    echo "smod exited; see above" >&2
    exit 1
  fi
  sleep 0.1
done
echo
echo "smod is running (pid $(cat "$demo/smod.pid")), loaded instances:"
sed -n '/ready in/,$p' "$demo/smod.log" | sed 's/^<[0-9]>[^[]*\[core\] /  /'
echo
echo "== clusters (simulated federation, conf.d/40-executor.yaml)"
"$smoctl" cluster list
echo
echo "== smoctl graph deploy -p demo packaging/examples/hdag/image-detection.yaml --wait"
"$smoctl" graph deploy -p demo "$root/packaging/examples/hdag/image-detection.yaml" --wait
echo
echo "== clusters after the deployment"
"$smoctl" cluster list
echo
echo "API:    $SMO_URL  (docs at $SMO_URL/docs; try: $smoctl graph list)"
echo "log:    $demo/smod.log"
echo "reload: kill -HUP $(cat "$demo/smod.pid")    stop: kill $(cat "$demo/smod.pid")"
