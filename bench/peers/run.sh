#!/usr/bin/env bash
# The peer benchmark of issue 10, in one command (bench/peers/README.md):
#
#   bench/peers/run.sh                 Laatu beside PostGraphile v4 and the SQL floor (about 10 minutes)
#   bench/peers/run.sh scale           Laatu alone at c1, 1,000 / 10,000 / 100,000 documents per company, PostgreSQL and SQLite
#   bench/peers/run.sh explain         EXPLAIN (ANALYZE, BUFFERS) of each statement of one nested read
#   bench/peers/run.sh peers -jit off  any flag of `go run ./bench/peers run -h` after the mode
#
# It installs PostGraphile 4.14.1 from npm into bench/peers/.cache on first use, builds Laatu,
# creates its own databases (laatu_bench, laatu_bench_pgl) and roles on the PostgreSQL cluster at
# BENCH_ADMIN_URL, and drops the databases at the end. Everything listens on loopback and stops
# by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=peers
if [[ $# -gt 0 && $1 != -* ]]; then mode=$1; shift; fi
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cache=bench/peers/.cache
mkdir -p "$cache"

pgl=
if [[ $mode == peers ]]; then
  pgl=$PWD/$cache/pgl/node_modules/.bin/postgraphile
  if [[ ! -x $pgl ]]; then
    command -v npm >/dev/null || { echo "run.sh: npm is needed for PostGraphile (apt-get install npm)" >&2; exit 1; }
    echo "installing postgraphile@4.14.1 into $cache/pgl" >&2
    npm install --silent --no-audit --no-fund --prefix "$cache/pgl" postgraphile@4.14.1 >&2
  fi
fi

pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1 || true)
if [[ -z $pgbench && $mode == peers ]]; then
  echo "run.sh: pgbench not found; installing postgresql-contrib" >&2
  apt-get update -qq && apt-get install -y -qq postgresql-contrib >&2
  pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
fi

echo "building laatu and the bench" >&2
go build -o "$cache/laatu" .
go build -o "$cache/peers" ./bench/peers

exec "$cache/peers" run --mode "$mode" --admin-url "$admin" --laatu "$PWD/$cache/laatu" \
  ${pgl:+--postgraphile "$pgl"} --pgbench "${pgbench:-pgbench}" "$@"
