#!/usr/bin/env bash
# Monitor one batch against the production model's training profile.
# Usage: ci/monitor.sh BATCH REPORT_MD   -> prints drift=true|false for $GITHUB_OUTPUT
# `gitml monitor --fail-on-drift` exits 1 on drift and 2 on an error; an error fails the step.
set -euo pipefail
batch="$1"
report="$2"
status=0
gitml monitor --stage "${GITML_MONITOR_STAGE:-production}" --current "$batch" --format md \
  -o "$report" --fail-on-drift || status=$?
case "$status" in
  0) echo "drift=false" ;;
  1) echo "drift=true" ;;
  *) echo "gitml monitor failed (exit $status)" >&2; exit "$status" ;;
esac
