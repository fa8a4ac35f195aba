#!/usr/bin/env bash
# Records the AWS calls each part makes while its integration suite runs
# (internal/awsiam's SDK middleware, on through STRANGLER_IAM_RECORD) and
# merges them into internal/awsiam/observed.json, which the template's IAM
# policies and the runbook's IAM table are made from. Needs the local stack
# (make stack-up). Takes several minutes: it runs the suites of the
# functions, the migrator, the proxy and the cdc.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/stack.sh env)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
GO=${GO:-go}

# The functions label their own calls (orders, processor, outbox).
mkdir -p "$dir/functions"
STRANGLER_IAM_RECORD="$dir/functions" $GO test -count=1 ./orders/lambdafn
# A Fargate part's suite: every call its code makes is the part's.
for p in backfill:./migrator proxy:./proxy cdc:./cdc; do
	part=${p%%:*}
	mkdir -p "$dir/$part"
	STRANGLER_IAM_RECORD="$dir/$part" STRANGLER_IAM_PART="$part" $GO test -count=1 -p 1 "${p#*:}"
done
$GO run ./cmd/strangler aws iam-merge -o internal/awsiam/observed.json "$dir"/*
echo "iam-observe: internal/awsiam/observed.json updated; go test ./docs -update rewrites the runbook's table"
