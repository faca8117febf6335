#!/usr/bin/env bash
# Runs graphql-http's audit of the GraphQL-over-HTTP spec (auditServer) against a Laatu built
# from this tree, serving the demo data from a temporary data directory on a free loopback
# port. Exit 0 only when every audit is ok. Needs Go, Node and npm; installs its two npm
# packages here. Usage: bench/conformance/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$here" && npm install --no-audit --no-fund --silent)
(cd "$root" && go build -o "$work/laatu" .)
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$work/laatu" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --audit-log off --log-level error --admin-addr off 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/stderr" >&2; exit 1; fi
  sleep 0.5
done
node "$here/audit.mjs" "http://127.0.0.1:$port/graphql"
