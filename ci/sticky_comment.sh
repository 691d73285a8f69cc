#!/usr/bin/env bash
# One sticky pull-request comment: update the comment that carries the hidden marker
# (report.marker in conf/gitml.yaml), or create it. Needs GH_TOKEN with pull-requests: write.
# Usage: ci/sticky_comment.sh PR_NUMBER BODY_FILE
set -euo pipefail
pr="$1"
body="$2"
marker="$(python -m gitml.ci marker)"
grep -qF -- "$marker" "$body" || { echo "$body lacks the marker $marker" >&2; exit 2; }
id="$(gh api --paginate "repos/{owner}/{repo}/issues/$pr/comments" |
  python -m gitml.ci find-comment --marker "$marker" --author "github-actions[bot]")"
if [ -n "$id" ]; then
  gh api --method PATCH "repos/{owner}/{repo}/issues/comments/$id" -F "body=@$body" >/dev/null
  echo "updated comment $id on #$pr" >&2
else
  gh pr comment "$pr" --body-file "$body"
  echo "created the report comment on #$pr" >&2
fi
