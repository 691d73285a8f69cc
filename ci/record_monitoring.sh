#!/usr/bin/env bash
# Commit one `gitml monitor --format json` report to the gitml/monitoring branch and push it, through
# a private index (the checkout and its branch are untouched). `gitml site` reads the branch.
# Usage: ci/record_monitoring.sh REPORT_JSON [REMOTE]   (file: runs/<UTC stamp>-<run id>.json)
set -euo pipefail
report="$1"
remote="${2:-origin}"
branch="gitml/monitoring"
stamp="${GITML_MONITOR_STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}"
path="runs/${stamp}-${GITHUB_RUN_ID:-local}.json"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GIT_INDEX_FILE="$work/index"
blob="$(git hash-object -w "$report")"
for attempt in 1 2 3; do
  parent=""
  if git fetch --quiet "$remote" "+refs/heads/$branch:refs/remotes/$remote/$branch" 2>/dev/null; then
    parent="$(git rev-parse "refs/remotes/$remote/$branch^{commit}")"
    git read-tree "$parent"
  else
    git read-tree --empty
  fi
  git update-index --add --cacheinfo "100644,$blob,$path"
  tree="$(git write-tree)"
  commit="$(git commit-tree "$tree" ${parent:+-p "$parent"} -m "monitor: $path")"
  if git push --quiet "$remote" "$commit:refs/heads/$branch"; then
    echo "recorded $path on $branch"
    exit 0
  fi
  echo "push of $branch refused (attempt $attempt); fetching and retrying" >&2
done
exit 1
