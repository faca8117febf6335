#!/usr/bin/env bash
# Where does the cost of view auditing go? Runs BenchmarkAuditViews's nested read with view
# auditing off, on, and in the experimental modes of experiment.patch (see README.md), in
# interleaved rounds, and prints the median ns/op of each and its cost against "off".
#
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
#     bench/audit-floor/run.sh [-clients 1] [-rounds 3] [-n 500] [modes...]
set -euo pipefail

clients=1 rounds=3 n=500
while [[ $# -gt 0 && $1 == -* ]]; do
	case $1 in
	-clients) clients=$2; shift 2 ;;
	-rounds) rounds=$2; shift 2 ;;
	-n) n=$2; shift 2 ;;
	*) echo "usage: $0 [-clients N] [-rounds N] [-n N] [modes...]" >&2; exit 2 ;;
	esac
done
modes=("$@")
[[ ${#modes[@]} -gt 0 ]] || modes=(on collect async async-batch journal)
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL to a PostgreSQL database (the benchmark is about PostgreSQL)}"
export TEST_DATABASE_URL

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The experiment lives in a throwaway checkout of HEAD: the server itself never has these modes.
git -C "$root" worktree add --detach --quiet "$work/src" HEAD
git -C "$work/src" apply --3way "$root/bench/audit-floor/experiment.patch"
(cd "$work/src" && go test -c -o "$work/e2e.test" ./internal/e2e)

mkdir "$work/tmp" # the journal mode's files land here, and go with it
run() { # views mode -> ns/op
	TMPDIR="$work/tmp" LAATU_AUDIT_EXPERIMENT=$2 "$work/e2e.test" -test.run '^$' -test.benchtime "${n}x" \
		-test.bench "AuditViews/read=nested/views=$1/clients=$clients\$" | awk '/^Benchmark/ {print $3}'
}
for ((r = 1; r <= rounds; r++)); do
	echo "off $(run off '')" >>"$work/results"
	for m in "${modes[@]}"; do
		if [[ $m == on ]]; then echo "on $(run on '')"; else echo "$m $(run on "$m")"; fi >>"$work/results"
	done
	echo "round $r of $rounds done" >&2
done
awk -v clients="$clients" '
	{ v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		base = median(v["off"])
		printf "nested read, clients=%s, median of interleaved runs\n", clients
		for (i = 1; i <= k; i++) {
			m = median(v[order[i]])
			printf "%-12s %8.2f ms/op  %+6.1f %%\n", order[i], m / 1e6, (m / base - 1) * 100
		}
	}' "$work/results"
