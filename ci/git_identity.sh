#!/usr/bin/env bash
# Give the runner's checkout a bot identity for the commits and annotated tags the workflows write.
# Usage: ci/git_identity.sh   (keeps an identity that is already configured)
set -euo pipefail
git config user.name >/dev/null 2>&1 || git config user.name "github-actions[bot]"
git config user.email >/dev/null 2>&1 ||
  git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
