"""A real S3-compatible server on 127.0.0.1 for the suite: moto's standalone server, with auth.

`s3_server` (session-scoped, per xdist worker) starts `moto.server.ThreadedMotoServer` on a free
loopback port, creates an IAM user with an S3-only policy and an access key, then turns request
authentication on (moto's `/moto-api/reset-auth`), so every request must be signed with that key:
a wrong secret gets `SignatureDoesNotMatch`/403 and an unknown key `InvalidAccessKeyId`, as from AWS.
The key's secret is random (moto makes it), and tests grep their outputs for it.

DVC reaches the server only through the environment (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`)
and `endpointurl` in the remote's config; `env()` also keeps botocore from reading ~/.aws and from
asking the EC2 metadata address for credentials (loopback traffic only).
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    """The running server: its endpoint and the one key it accepts."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    home: Path  # an empty folder standing in for ~/.aws

    def env(self, *, secret: str | None = None, key_id: str | None = None) -> dict[str, str]:
        """Environment entries for DVC/botocore: the key (or a wrong one), nothing from ~/.aws."""
        return {
            "AWS_ACCESS_KEY_ID": key_id or self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret_access_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
        )

    def new_bucket(self, prefix: str = "gitml") -> str:
        """Create a bucket with a unique name and return it."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every object key in `bucket`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 with authentication on; stopped at the end of the session."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name="us-east-1",
        )
        iam.create_user(UserName="gitml-ci")
        iam.put_user_policy(
            UserName="gitml-ci", PolicyName="s3-all", PolicyDocument=json.dumps(_POLICY)
        )
        key = iam.create_access_key(UserName="gitml-ci")["AccessKey"]
        request = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["status"] == "ok"
        home = tmp_path_factory.mktemp("aws-home")
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], home)
    finally:
        server.stop()


def configure_remote(dvc: Any, repo: Path, server: S3Server, bucket: str, name: str = "s3") -> None:
    """`dvc remote add -d NAME s3://BUCKET/store` and its endpoint: no credentials in config."""
    dvc("remote", "add", "-d", name, f"s3://{bucket}/store", cwd=repo)
    dvc("remote", "modify", name, "endpointurl", server.endpoint, cwd=repo)


def assert_secret_absent(secret: str, *roots: Path, texts: tuple[str, ...] = ()) -> int:
    """Fail if `secret` is in any file under `roots` (git's and DVC's folders included) or `texts`.

    Returns how many files were read, so a caller can check the scan saw something.
    """
    needle = secret.encode()
    read = 0
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            if path.is_symlink():
                continue
            assert needle not in path.read_bytes(), f"the secret key is in {path}"
            read += 1
    for text in texts:
        assert secret not in text, "the secret key is in a command's output"
    return read


def git_texts(repo: Path) -> tuple[str, ...]:
    """What a repository's history says in text: every commit's diff, tag messages, notes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout

    return (
        git("log", "--all", "-p", "--format=%H%n%B"),  # --all includes refs/notes/*
        git("for-each-ref", "--format=%(refname) %(contents)"),
        git("config", "--list", "--local"),
    )
