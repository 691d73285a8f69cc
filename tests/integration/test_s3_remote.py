"""DVC's S3 remote against a real S3-compatible server on 127.0.0.1 (moto, tests/s3_server.py).

One project per module: the pipeline's results (the session's `ran_template`) registered as v1.0.0
and promoted to production, a bare git origin, and an S3 remote `s3://BUCKET/store` whose endpoint
is the loopback server; credentials come only from the environment. Each test works in a fresh
clone of origin with an empty DVC cache, so every model byte comes from S3.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from gitml.modeling import load_signature
from tests.pipeline_repo import BIN, copy_repo, dvc, env
from tests.s3_server import (
    S3Server,
    assert_secret_absent,
    configure_remote,
    git_texts,
)
from tests.serve_support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("s3")]


def run(
    args: list[str], cwd: Path, extra: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, cwd=cwd, env={**env(), **extra}, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def lock_md5(repo: Path, path: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return str(out["md5"])
    raise KeyError(path)


def object_key(md5_value: str) -> str:
    return f"store/files/md5/{md5_value[:2]}/{md5_value[2:]}"


class Project:
    """The module's project: its working copy, origin, bucket and the S3 server."""

    def __init__(self, root: Path, origin: Path, bucket: str, server: S3Server) -> None:
        self.root, self.origin, self.bucket, self.server = root, origin, bucket, server
        self.outputs: list[str] = []  # every command's stdout and stderr, for the secret check

    def run(
        self, args: list[str], cwd: Path, check: bool = True, **env_overrides: str
    ) -> subprocess.CompletedProcess[str]:
        extra = self.server.env(
            secret=env_overrides.get("secret"), key_id=env_overrides.get("key_id")
        )
        proc = run(args, cwd, extra, check=check)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def gitml(
        self, *args: str, cwd: Path, check: bool = True, **kw: str
    ) -> subprocess.CompletedProcess[str]:
        return self.run([str(BIN / "gitml"), *args], cwd, check=check, **kw)

    def dvc(
        self, *args: str, cwd: Path, check: bool = True, **kw: str
    ) -> subprocess.CompletedProcess[str]:
        return self.run([str(BIN / "dvc"), *args], cwd, check=check, **kw)

    def clone(self, dest: Path) -> Path:
        """A fresh clone of origin (tags included): no DVC cache at all."""
        self.run(["git", "clone", "-q", str(self.origin), str(dest)], dest.parent)
        assert not (dest / ".dvc/cache").exists()
        return dest

    def assert_no_secret(self, *roots: Path) -> None:
        texts = tuple(self.outputs) + tuple(
            t for r in roots if (r / ".git").is_dir() for t in git_texts(r)
        )
        read = assert_secret_absent(self.server.secret_access_key, *roots, texts=texts)
        assert read > 0


@pytest.fixture(scope="module")
def project(
    ran_template: Path,
    s3_server: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Project:
    tmp = tmp_path_factory.mktemp("s3-project")
    repo = copy_repo(ran_template, tmp / "repo")
    policy = yaml.safe_load((repo / "conf/gitml.yaml").read_text())
    policy["metrics"]["roc_auc"]["floor"] = 0.6  # 3,000 rows of training data in this test
    (repo / "conf/gitml.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    bucket = s3_server.new_bucket()
    configure_remote(dvc, repo, s3_server, bucket)
    origin = tmp / "origin.git"
    proj = Project(repo, origin, bucket, s3_server)
    proj.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp)
    proj.run(["git", "add", "-A"], repo)
    proj.run(["git", "commit", "-qm", "results, S3 remote"], repo)
    proj.run(["git", "remote", "add", "origin", str(origin)], repo)
    proj.run(["git", "push", "-q", "origin", "main"], repo)
    pushed = proj.dvc("push", "--run-cache", cwd=repo)
    assert "pushed" in pushed.stdout, pushed.stdout
    for args in (
        ("register", "--version", "v1.0.0"),
        ("promote", "v1.0.0", "--to", "staging"),
        ("promote", "v1.0.0", "--to", "production"),
    ):
        proj.gitml("model", *args, cwd=repo)
    proj.run(["git", "push", "-q", "origin", "main", "--tags"], repo)
    return proj


def test_dvc_push_puts_the_model_in_the_bucket_and_a_clone_pulls_it(
    project: Project, tmp_path: Path
) -> None:
    model_md5 = lock_md5(project.root, "models/model.skops")
    keys = project.server.keys(project.bucket)
    assert object_key(model_md5) in keys
    assert any(k.startswith("store/runs/") for k in keys)  # the run-cache went up too
    clone = project.clone(tmp_path / "clone")
    pulled = project.dvc("pull", cwd=clone)
    assert "fetched" in pulled.stdout or "added" in pulled.stdout, pulled.stdout
    assert md5(clone / "models/model.skops") == model_md5
    config = (clone / ".dvc/config").read_text()
    assert "endpointurl" in config and "access_key" not in config and "secret" not in config
    project.assert_no_secret(clone)


def test_model_get_fetches_from_s3_and_checks_the_md5(project: Project, tmp_path: Path) -> None:
    clone = project.clone(tmp_path / "clone")
    out = tmp_path / "out/model.skops"
    got = project.gitml("model", "get", "production", "-o", str(out), cwd=clone)
    assert md5(out) == lock_md5(clone, "models/model.skops"), got.stdout
    # The clone has no DVC cache and the workspace has no model: the bytes streamed from S3.
    assert not (clone / "models/model.skops").exists()
    project.assert_no_secret(clone, out)


def test_serve_stage_production_fetches_the_model_from_s3_at_start(
    project: Project, tmp_path: Path
) -> None:
    clone = project.clone(tmp_path / "clone")
    port, log = free_port(), tmp_path / "predictions.jsonl"
    stderr_path = tmp_path / "serve.stderr"
    args = [str(BIN / "gitml"), "serve", "--stage", "production", "--port", str(port)]
    args += ["--log", str(log), "--root", str(clone)]
    with open(stderr_path, "wb") as stderr:
        server = subprocess.Popen(
            args,
            cwd=clone,
            env={**env(), **project.server.env()},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, stderr_path.read_text()
                assert time.monotonic() < deadline, "serve did not become healthy"
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)  # polling a starting server, bounded by the deadline
            meta = httpx.get(f"{url}/metadata", timeout=10).json()
            assert meta["version"] == "v1.0.0" and meta["stage"] == "production"
            rows = pd.read_parquet(project.root / "data/test.parquet").head(3)
            features = load_signature(project.root / "models/signature.json").feature_names
            records = rows[features].astype(object).where(rows[features].notna(), None)
            answer = httpx.post(
                f"{url}/invocations",
                json={"dataframe_records": records.to_dict(orient="records")},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["predictions"]) == 3
        finally:
            server.terminate()
            server.wait(60)
    project.outputs.append(stderr_path.read_text())
    project.assert_no_secret(clone, log, stderr_path)


def test_retrain_pushes_its_batch_to_s3(project: Project, tmp_path: Path) -> None:
    clone = project.clone(tmp_path / "clone")
    project.dvc("pull", cwd=clone)
    batch = tmp_path / "batch.parquet"
    project.gitml("data", "generate", "--rows", "300", "--seed", "5", "-o", str(batch), cwd=clone)
    project.gitml("retrain", "--data", str(batch), "-o", str(tmp_path / "retrain.md"), cwd=clone)
    (stored,) = (clone / "data/external/batches").glob("*/batch-*.parquet")  # per data source
    assert object_key(md5(stored)) in project.server.keys(project.bucket)
    assert "roc_auc" in (tmp_path / "retrain.md").read_text()
    project.assert_no_secret(clone, tmp_path / "retrain.md")


def _one_paragraph(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    text = proc.stderr.strip()
    assert "Traceback" not in text and "botocore" not in text, text
    assert text.startswith("error: ") and "\n" not in text, text
    return text


def test_a_wrong_secret_is_one_clear_paragraph_everywhere(project: Project, tmp_path: Path) -> None:
    clone = project.clone(tmp_path / "clone")
    wrong = "not-the-secret-" + "x" * 25
    where = f"the S3 remote 's3' (s3://{project.bucket}/store at {project.server.endpoint})"

    got = project.gitml(
        "model",
        "get",
        "production",
        "-o",
        str(tmp_path / "m"),
        cwd=clone,
        check=False,
        secret=wrong,
    )
    text = _one_paragraph(got)
    assert f"{where[0].upper()}{where[1:]} rejected the credentials" in text
    assert "AWS_SECRET_ACCESS_KEY" in text and "dvc remote modify --local" in text
    assert not (tmp_path / "m").exists()

    port = free_port()
    serve = project.gitml(
        "serve",
        "--stage",
        "production",
        "--port",
        str(port),
        "--root",
        str(clone),
        cwd=clone,
        check=False,
        secret=wrong,
    )
    assert "rejected the credentials" in _one_paragraph(serve)

    batch = tmp_path / "batch.csv"
    project.gitml("data", "generate", "--rows", "50", "-o", str(batch), cwd=clone)
    retrain = project.gitml("retrain", "--data", str(batch), cwd=clone, check=False, secret=wrong)
    assert "rejected the credentials" in _one_paragraph(retrain)
    assert not list((clone / "data/external/batches").glob("batch-*"))  # nothing half-written

    unknown = project.gitml(
        "model",
        "get",
        "production",
        "-o",
        str(tmp_path / "m"),
        cwd=clone,
        check=False,
        key_id="AKIAUNKNOWNKEY000000",
    )
    assert "rejected the credentials" in _one_paragraph(unknown)
    project.assert_no_secret(clone)


def test_a_missing_bucket_is_one_clear_paragraph(project: Project, tmp_path: Path) -> None:
    clone = project.clone(tmp_path / "clone")
    # A local override (never committed) pointing at a bucket nobody created.
    project.dvc(
        "remote", "modify", "--local", "s3", "url", "s3://no-such-bucket-gitml/store", cwd=clone
    )
    got = project.gitml(
        "model", "get", "production", "-o", str(tmp_path / "m"), cwd=clone, check=False
    )
    text = _one_paragraph(got)
    assert "The bucket 'no-such-bucket-gitml' of the S3 remote 's3'" in text
    assert "does not exist" in text and "dvc remote modify s3 url" in text
    port = free_port()
    serve = project.gitml(
        "serve",
        "--stage",
        "production",
        "--port",
        str(port),
        "--root",
        str(clone),
        cwd=clone,
        check=False,
    )
    assert "does not exist" in _one_paragraph(serve)
    batch = tmp_path / "batch.csv"
    project.gitml("data", "generate", "--rows", "50", "-o", str(batch), cwd=clone)
    retrain = project.gitml("retrain", "--data", str(batch), cwd=clone, check=False)
    assert "The bucket 'no-such-bucket-gitml'" in _one_paragraph(retrain)
