#!/usr/bin/env bash
# scripts/check-commits.sh — fail when a commit subject since BASE is longer
# than 72 characters (the project's rule; reasons and figures go in the body).
# BASE defaults to the last commit before the rule (e5ce97a). In a clone
# without that commit (shallow), only HEAD is checked.
set -euo pipefail
BASE="${1:-e5ce97a}"
if git cat-file -e "${BASE}^{commit}" 2>/dev/null; then range="${BASE}..HEAD"; else range="-1"; fi
# Subjects over the bound that reached main before the check caught them
# (main is never rewritten): full hashes, one per line.
exempt="bd8f5e52ce8cd814c537b30db9f06379b876f7e4"
bad=0
while IFS=$'\t' read -r sha subject; do
	if [ "${#subject}" -gt 72 ] && ! grep -qx "$(git rev-parse "${sha}")" <<<"${exempt}"; then
		echo "commits: ${sha} has a ${#subject}-character subject (at most 72; move detail into the body): ${subject}"
		bad=1
	fi
done < <(git log --no-merges --format=$'%h\t%s' ${range})
exit "${bad}"
