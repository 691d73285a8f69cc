#!/usr/bin/env bash
# After drift: retrain on a bot branch and open one pull request with the reports.
# Usage: ci/retrain_pr.sh BATCH MONITOR_REPORT BRANCH BASE_BRANCH
# Runs `gitml retrain` (adds the batch, `dvc exp run`, report against production), commits the
# result, pushes the DVC outputs and the branch, then `gh pr create`. Needs contents: write,
# pull-requests: write and the DVC remote's credentials.
set -euo pipefail
batch="$1"
monitor_report="$2"
branch="$3"
base_branch="$4"
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/retrain"
mkdir -p "$work"
git switch -c "$branch"
gitml retrain --data "$batch" -o "$work/retrain.md"
git add dvc.lock params.yaml data/external models reports
git commit -q -m "retrain: add batch $(basename "$batch") after drift"
dvc push --run-cache
git push origin "$branch"
{
  echo "Drift was detected on \`$(basename "$batch")\` by the scheduled monitor; this branch adds"
  echo "the batch and retrains. Review the comparison with production, then merge to register it."
  echo
  cat "$work/retrain.md"
  echo
  echo "<details><summary>Monitoring report</summary>"
  echo
  cat "$monitor_report"
  echo
  echo "</details>"
} > "$work/pr_body.md"
gh pr create --base "$base_branch" --head "$branch" \
  --title "Retrain after drift on $(basename "$batch")" --body-file "$work/pr_body.md"
