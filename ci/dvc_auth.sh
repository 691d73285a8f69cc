#!/usr/bin/env bash
# Give DVC the remote's credentials from the environment (repository secrets), in .dvc/config.local
# only, never in a commit. Usage: ci/dvc_auth.sh   (see docs/ci.md "Secrets")
#   S3:    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (read by DVC directly; or OIDC role)
#   GCS:   GCP_CREDENTIALS_JSON (a service-account key; written to a file outside the checkout)
#   Azure: AZURE_STORAGE_CONNECTION_STRING (read by DVC directly)
#   SSH:   DVC_SSH_KEY (a private key; written to a file outside the checkout)
# A local directory remote (the tested default) needs nothing.
set -euo pipefail
remote="$(python -m gitml.ci remote | sed -n 's/^name=//p')"
if [ -z "$remote" ]; then
  echo "no default DVC remote configured: nothing to authenticate" >&2
  exit 0
fi
secrets_dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dvc-auth"
mkdir -p "$secrets_dir" && chmod 700 "$secrets_dir"
if [ -n "${GCP_CREDENTIALS_JSON:-}" ]; then
  printf '%s' "$GCP_CREDENTIALS_JSON" > "$secrets_dir/gcp.json"
  dvc remote modify --local "$remote" credentialpath "$secrets_dir/gcp.json"
fi
if [ -n "${DVC_SSH_KEY:-}" ]; then
  printf '%s\n' "$DVC_SSH_KEY" > "$secrets_dir/ssh_key" && chmod 600 "$secrets_dir/ssh_key"
  dvc remote modify --local "$remote" keyfile "$secrets_dir/ssh_key"
fi
echo "DVC remote '$remote' ready" >&2
