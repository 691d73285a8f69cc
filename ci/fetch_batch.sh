#!/usr/bin/env bash
# Download the batch to monitor with `dvc get-url` (s3://, gs://, azure://, ssh://, https:// or a
# local path; credentials from ci/dvc_auth.sh's environment).
# Usage: ci/fetch_batch.sh URL DIR   -> prints path=DIR/<file name> for $GITHUB_OUTPUT
set -euo pipefail
url="${1:?no batch URL: set the repository variable GITML_BATCH_URL or pass batch_url}"
dir="$2"
mkdir -p "$dir"
target="$dir/$(basename "$url")"
dvc get-url "$url" "$target"
echo "path=$target"
