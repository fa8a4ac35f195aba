#!/usr/bin/env bash
# scripts/fuzz.sh — run every Go fuzz test of the module for FUZZTIME each
# (default 60s; `make test` runs them for 3s after the package tests, `make
# fuzz` for the default). `go test -fuzz` takes one target per package per
# run, so the targets are listed with `go test -list '^Fuzz'` in each
# package whose tests declare one, and run one by one. A failure stops the
# script; its input is kept under the package's testdata/fuzz/ (commit it:
# it becomes a seed that plain `go test` replays).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-60s}"
GO="${GO:-go}"
mod="$(${GO} list -m)"
pkgs="$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | sed "s#^\.#${mod}#")"
n=0
for pkg in ${pkgs}; do
	for target in $(${GO} test -list '^Fuzz' "${pkg}" | grep '^Fuzz' || true); do
		echo "fuzz: ${pkg#"${mod}"/} ${target} for ${FUZZTIME}"
		${GO} test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME}" "${pkg}" >/tmp/fuzz.$$.log 2>&1 || {
			cat /tmp/fuzz.$$.log
			rm -f /tmp/fuzz.$$.log
			exit 1
		}
		n=$((n + 1))
	done
done
rm -f /tmp/fuzz.$$.log
echo "fuzz: ${n} targets passed, ${FUZZTIME} each"
