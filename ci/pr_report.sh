#!/usr/bin/env bash
# The pull-request report: `gitml report` of the workspace against the merge-base with the base
# branch, as Markdown (the comment, with the hidden marker) and HTML (the artifact).
# Usage: ci/pr_report.sh BASE_BRANCH OUT_DIR   -> prints regressed=true|false for $GITHUB_OUTPUT
# Needs the base branch fetched (actions/checkout with fetch-depth: 0).
set -euo pipefail
base_branch="$1"
out_dir="$2"
mkdir -p "$out_dir"
base="$(git merge-base HEAD "origin/$base_branch")"
echo "report base: merge-base of HEAD and origin/$base_branch = $base" >&2
gitml report --base "$base" --format html -o "$out_dir/report.html"
status=0
gitml report --base "$base" --format md -o "$out_dir/report.md" --fail-on-regression || status=$?
case "$status" in
  0) echo "regressed=false" ;;
  1) echo "regressed=true" ;;
  *) echo "gitml report failed (exit $status)" >&2; exit "$status" ;;
esac
