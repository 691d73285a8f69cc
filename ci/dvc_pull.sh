#!/usr/bin/env bash
# Pull the DVC-tracked data and the run-cache when a default remote is configured, so `dvc repro`
# and `dvc exp run` reuse what was already computed. Usage: ci/dvc_pull.sh
set -euo pipefail
if [ "$(python -m gitml.ci remote | sed -n 's/^configured=//p')" = "true" ]; then
  dvc pull --run-cache --allow-missing
else
  echo "no default DVC remote configured: nothing to pull" >&2
fi
