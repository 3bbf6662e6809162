#!/usr/bin/env bash
# What a newcomer does, in an empty folder: `git clone` of this repository (its HEAD commit)
# into $(mktemp -d)/x/repo — no `shared/` or anything else beside it — then the README's
# commands: `npm ci`; `npm start` until /.well-known/openid-configuration answers, then SIGTERM,
# checking that no process of it survives; `npm test`, the whole of it.
#
#   scripts/clean-clone-check.sh [--keep]     (--keep: leave the temporary folder for a look)
#
# Checks the last commit: commit first. Uses the network for the npm registry only (npm ci),
# like CI. Exit 0 when everything passed; the first failure stops it with its output.
set -euo pipefail

keep=false
[[ "${1:-}" == "--keep" ]] && keep=true

source_repo="$(cd "$(dirname "$0")/.." && pwd)"
branch="$(git -C "$source_repo" rev-parse --abbrev-ref HEAD)"
commit="$(git -C "$source_repo" rev-parse --short HEAD)"
if [[ -n "$(git -C "$source_repo" status --porcelain)" ]]; then
  echo "clean-clone-check: note: uncommitted changes are not part of the check (it clones $commit)" >&2
fi

work="$(mktemp -d)"
clone="$work/x/repo"
npm_pid=""
cleanup() {
  if [[ -n "$npm_pid" ]] && kill -0 "$npm_pid" 2>/dev/null; then kill -KILL "$npm_pid" 2>/dev/null || true; fi
  if $keep; then echo "clean-clone-check: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "git clone ($branch at $commit) into $clone"
mkdir -p "$work/x"
git clone --quiet --no-local --branch "$branch" "$source_repo" "$clone"
if [[ -e "$work/x/shared" || -e "$work/shared" ]]; then
  echo "clean-clone-check: $work holds a shared/ folder; the check needs an empty parent" >&2
  exit 1
fi
cd "$clone"

# A newcomer's environment: none of this machine's broker or AWS settings.
while IFS='=' read -r name _; do
  if [[ "$name" == IRSA_BROKER_* || "$name" == AWS_* ]]; then unset "$name"; fi
done < <(env)

step "npm ci"
npm ci --no-audit --no-fund

step "npm start (until it answers, then SIGTERM)"
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
PORT="$port" npm start >"$work/npm-start.log" 2>&1 &
npm_pid=$!
answered=false
for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" >"$work/discovery.json" 2>/dev/null; then
    answered=true
    break
  fi
  if ! kill -0 "$npm_pid" 2>/dev/null; then break; fi
  sleep 0.5
done
if ! $answered; then
  echo "clean-clone-check: npm start did not answer on port $port:" >&2
  cat "$work/npm-start.log" >&2
  exit 1
fi
echo "answered: $(cat "$work/discovery.json")"
broker_pid="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(".irsa-broker/broker.lock","utf8")).pid)')"
tree="$(ps -A -o pid=,ppid= | awk -v root="$npm_pid" '
  { parent[$1] = $2 } END { for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q]; if (q == root) print p } }')"
kill -TERM "$npm_pid"
status=0
wait "$npm_pid" || status=$?
npm_pid=""
if [[ "$status" != 0 ]]; then
  echo "clean-clone-check: npm start exited $status on SIGTERM:" >&2
  cat "$work/npm-start.log" >&2
  exit 1
fi
sleep 1
for pid in $broker_pid $tree; do
  state="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
  if [[ -n "$state" && "$state" != Z* ]]; then
    echo "clean-clone-check: pid $pid ($(ps -o command= -p "$pid")) survived npm start's SIGTERM" >&2
    exit 1
  fi
done
echo "stopped: broker (pid $broker_pid) and its children are gone"

step "npm test"
npm test

step "clean-clone-check: passed ($branch at $commit)"
