"""gitml.dvc's reading of S3's failures: codes in DVC's output -> one paragraph, no secrets."""

from __future__ import annotations

import pytest

from gitml.dvc import S3Remote, classify_s3_failure, s3_error

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ERROR: failed to connect to s3 (b/p) - Forbidden: An error occurred (403)", "rejected"),
        ("An error occurred (InvalidAccessKeyId) when calling the PutObject", "rejected"),
        ("An error occurred (SignatureDoesNotMatch) when calling the PutObject", "rejected"),
        ("ERROR: failed to connect to s3 (b/p) - Unable to locate credentials", "no-credentials"),
        ("An error occurred (NoSuchBucket) when calling the ListObjectsV2", "no-bucket"),
        ("ERROR: failed to reproduce 'train': exit code 1", None),
    ],
)
def test_s3_failures_are_told_apart(text: str, kind: str | None) -> None:
    assert classify_s3_failure(text) == kind


def test_the_paragraph_names_remote_bucket_endpoint_and_fix() -> None:
    remote = S3Remote("s3", "s3://bucket/store", "http://127.0.0.1:9000")
    text = s3_error("no-bucket", remote, "`dvc push`").render()
    assert "'bucket'" in text and "'s3'" in text and "http://127.0.0.1:9000" in text
    assert "dvc remote modify s3 url" in text and "\n" not in text
    rejected = s3_error("rejected", remote, "reading 'm' at commit abc").render()
    assert rejected.startswith("The S3 remote 's3'") and "--local" in rejected
