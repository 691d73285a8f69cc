#!/usr/bin/env bash
# One run of a sweep: `dvc exp run` with the run's overrides, then share it with `dvc exp push`.
# Usage: OVERRIDES='model.max_depth=3 seed=1' ci/sweep_run.sh EXPERIMENT_NAME
# OVERRIDES comes from `python -m gitml.ci sweep-matrix`, which admits only plain key=value tokens.
set -euo pipefail
name="$1"
args=()
read -ra overrides <<< "${OVERRIDES:?OVERRIDES is empty}"
for override in "${overrides[@]}"; do args+=(-S "$override"); done
dvc exp run --name "$name" "${args[@]}"
if [ "$(python -m gitml.ci remote | sed -n 's/^configured=//p')" = "true" ]; then
  dvc exp push origin "$name"             # the experiment's commit, and its outputs to the DVC remote
else
  dvc exp push --no-cache origin "$name"  # no DVC remote: share the experiment's commit only
fi
