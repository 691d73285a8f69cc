"""The decisions the GitHub workflows make, as tested Python (run as `python -m gitml.ci ...`).

The workflows in `.github/workflows/` stay thin: a step calls a `gitml` command, a Makefile target,
a script under `ci/`, or one of these subcommands. Each subcommand prints `key=value` lines that a
step appends to `$GITHUB_OUTPUT`. See docs/ci.md.

Pure core (no subprocesses, no files): `lock_md5`, `model_changed`, `parse_json_pages`,
`find_marked_comment`, `open_prs_with_prefix`, `expand_sweep`, `example_row`.
Adapters: git through `gitml.git.Git`, DVC through its Python API, HTTP through urllib.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
import yaml

from gitml.errors import GitmlError, user_errors

log = logging.getLogger(__name__)

# ---- pure core ---------------------------------------------------------------------------------


def lock_md5(lock: Any, path: str) -> str | None:
    """The md5 that a parsed `dvc.lock` records for the output `path` (None when absent)."""
    stages = lock.get("stages") if isinstance(lock, Mapping) else None
    if not isinstance(stages, Mapping):
        return None
    for stage in stages.values():
        outs = stage.get("outs") if isinstance(stage, Mapping) else None
        for out in outs or ():
            if isinstance(out, Mapping) and out.get("path") == path and out.get("md5"):
                return str(out["md5"])
    return None


def model_changed(base_lock: Any, head_lock: Any, path: str) -> bool:
    """Whether the model's md5 differs between two parsed `dvc.lock` files.

    A head without the model never counts as a change (nothing to register); a base without it
    (the first model, or no base commit) does.
    """
    head = lock_md5(head_lock, path)
    if head is None:
        return False
    return head != lock_md5(base_lock, path)


def parse_json_pages(text: str) -> list[Any]:
    """Items of a JSON array, or of several arrays printed back to back (`gh api --paginate`)."""
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        page, pos = decoder.raw_decode(text, pos)
        if isinstance(page, list):
            # `--slurp` wraps the pages in one more list
            if page and all(isinstance(p, list) for p in page):
                items.extend(itertools.chain.from_iterable(page))
            else:
                items.extend(page)
        else:
            raise ValueError(f"expected a JSON array, got {type(page).__name__}")
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return items


def find_marked_comment(
    comments: Iterable[Mapping[str, Any]], marker: str, author: str | None = None
) -> int | None:
    """The id of the first comment whose body contains `marker` (written by `author`, if given)."""
    for comment in comments:
        body = comment.get("body") or ""
        login = (comment.get("user") or {}).get("login")
        if marker in body and (author is None or login == author):
            return int(comment["id"])
    return None


def open_prs_with_prefix(prs: Iterable[Mapping[str, Any]], prefix: str) -> list[Mapping[str, Any]]:
    """Open pull requests whose head branch starts with `prefix` (`gh pr list --json` rows)."""
    return [
        pr
        for pr in prs
        if str(pr.get("headRefName", "")).startswith(prefix)
        and str(pr.get("state", "OPEN")).upper() == "OPEN"
    ]


_OVERRIDE = re.compile(r"^(?P<key>[+~]{0,2}[A-Za-z_][\w.@/-]*)=(?P<values>[\w.,:@/+-]*)$")


def expand_sweep(spec: str, limit: int = 256) -> list[str]:
    """Expand a sweep spec into one `-S` override set per run (the cartesian product).

    `"model.max_depth=3,5 model=random_forest"` gives `["model.max_depth=3 model=random_forest",
    "model.max_depth=5 model=random_forest"]`. Only plain keys and values are accepted (letters,
    digits and `._-:@/+`), so a value can never smuggle shell syntax into a runner.
    """
    axes: list[list[str]] = []
    for token in spec.split():
        match = _OVERRIDE.match(token)
        if match is None or not match["values"]:
            raise GitmlError(
                f"'{token}' in the sweep spec is not an override like key=value or key=a,b,c.",
                "Write space-separated Hydra overrides, e.g. 'model.max_depth=3,5,8 seed=1,2'.",
            )
        values = [v for v in match["values"].split(",") if v]
        axes.append([f"{match['key']}={v}" for v in values])
    if not axes:
        raise GitmlError("The sweep spec is empty.", "Pass overrides like 'model.max_depth=3,5'.")
    runs = [" ".join(combo) for combo in itertools.product(*axes)]
    if len(runs) > limit:
        raise GitmlError(
            f"The sweep spec expands to {len(runs)} runs, more than GitHub's matrix limit ({limit}).",
            "Split it into several sweeps.",
        )
    return runs


def example_row(signature: Mapping[str, Any]) -> dict[str, Any]:
    """One valid input row for a model signature (`models/signature.json`), for smoke tests."""
    row: dict[str, Any] = {}
    for feature in signature.get("features", []):
        dtype = str(feature.get("dtype", ""))
        categories = feature.get("categories")
        if categories:
            row[feature["name"]] = categories[0]
        elif dtype == "bool":
            row[feature["name"]] = False
        elif dtype.startswith("int"):
            row[feature["name"]] = 1
        elif dtype.startswith("float"):
            row[feature["name"]] = 1.0
        else:
            row[feature["name"]] = "x"
    return row


def outputs(**values: Any) -> str:
    """`key=value` lines for `$GITHUB_OUTPUT` (booleans as true/false)."""
    lines = []
    for key, value in values.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if "\n" in text:
            raise ValueError(f"output {key} spans lines")
        lines.append(f"{key}={text}")
    return "\n".join(lines) + "\n"


# ---- adapters ----------------------------------------------------------------------------------


def read_lock(root: Path, rev: str | None) -> Any:
    """`dvc.lock` parsed at `rev` (None or an all-zero sha, as GitHub sends for a new branch)."""
    from gitml.git import Git

    if rev is None or not rev.strip("0"):
        return None
    git = Git(Path(root))
    if git.rev_parse(rev) is None:
        raise GitmlError(f"'{rev}' is not a commit in {root}.", "Check out with fetch-depth: 0.")
    data = git.read_file(rev, "dvc.lock")
    return yaml.safe_load(data) if data else None


def artifact_path(root: Path, artifact: str | None = None) -> str:
    """The artifact's path from the working tree's `dvc.yaml` (name default: the policy's)."""
    from gitml.policy import load_policy

    name = artifact or load_policy(root).artifact
    dvc_yaml = yaml.safe_load((Path(root) / "dvc.yaml").read_text(encoding="utf-8")) or {}
    entry = (dvc_yaml.get("artifacts") or {}).get(name)
    if not isinstance(entry, Mapping) or not entry.get("path"):
        raise GitmlError(
            f"The artifact '{name}' is not declared under `artifacts:` in dvc.yaml.",
            "Declare it, or pass --artifact with the declared name.",
        )
    return str(entry["path"])


def gate_check(root: Path, ref: str, artifact: str | None = None) -> tuple[Any, str | None]:
    """Judge the commit `ref` with the promotion gates against the newest registered version.

    Returns (GateReport, the version judged against or None when none is registered yet).
    """
    from gitml import registry
    from gitml.compare import Evidence, evaluate_gates
    from gitml.git import Git
    from gitml.policy import load_policy
    from gitml.registry.dvc import Dvc

    policy = load_policy(root)
    name = artifact or policy.artifact
    git = Git(Path(root))
    commit = git.rev_parse(ref)
    if commit is None:
        raise GitmlError(f"'{ref}' does not name a commit.", "Pass a branch, tag or commit.")
    art = registry.state(root).artifact(name)
    latest = next((v for v in art.sorted_versions() if v.registered and v.active), None)
    dvc = Dvc(Path(root), git)
    out = policy.outputs
    reports = (out.metrics, out.slices, out.validation)

    def evidence(at: str) -> Evidence:
        files = dvc.snapshot(name, at, reports=reports).files

        def mapping(path: str) -> Mapping[str, Any] | None:
            value = files.get(path)
            return value if isinstance(value, Mapping) else None

        return Evidence(
            metrics=mapping(out.metrics) or {},
            slices=mapping(out.slices),
            validation=mapping(out.validation),
        )

    champion = evidence(latest.commit) if latest is not None else None
    report = evaluate_gates(policy.gates, policy.metrics, evidence(commit), champion)
    return report, latest.version if latest is not None else None


def remote_name(root: Path) -> str | None:
    """The default DVC remote of the repository at `root`, read through DVC's config API."""
    from dvc.config import Config

    dvc_dir = str(Path(root) / ".dvc")
    config = Config(dvc_dir=dvc_dir, local_dvc_dir=dvc_dir)
    name = config.get("core", {}).get("remote")
    return str(name) if name and name in config.get("remote", {}) else None


def _http(url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def smoke_test(url: str, digest: str | None = None, wait: float = 120) -> dict[str, Any]:
    """Wait for `/health`, check `/metadata` (and the digest), score one row on `/invocations`."""
    url = url.rstrip("/")
    deadline = time.monotonic() + wait
    status = 0
    while time.monotonic() < deadline:
        try:
            status, _ = _http(f"{url}/health", timeout=5)
        except OSError:
            status = 0
        if status == 200:
            break
        time.sleep(0.5)
    if status != 200:
        raise GitmlError(
            f"{url}/health did not answer 200 within {wait:.0f}s (last status {status}).",
            "Read the server's log above: the model probably failed to load.",
            exit_code=1,
        )
    _, raw = _http(f"{url}/metadata")
    meta = json.loads(raw)
    if digest is not None and meta.get("digest") != digest:
        raise GitmlError(
            f"The server reports digest {meta.get('digest')}, expected {digest}.",
            "The deployed bytes differ from the verified artifact; do not ship this.",
            exit_code=1,
        )
    row = example_row(meta.get("signature") or {})
    code, raw = _http(f"{url}/invocations", json.dumps({"dataframe_records": [row]}).encode())
    answer = json.loads(raw) if raw else {}
    if code != 200 or len(answer.get("predictions", [])) != 1:
        raise GitmlError(
            f"POST {url}/invocations answered {code}: {raw[:300]!r}.",
            "The model is served but cannot score a valid row; see the server log.",
            exit_code=1,
        )
    return {"version": meta.get("version"), "digest": meta.get("digest"), "prediction": answer}


# ---- command line ------------------------------------------------------------------------------

app = typer.Typer(
    name="gitml.ci",
    help="Decisions the GitHub workflows make (prints key=value lines for $GITHUB_OUTPUT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_ROOT = typer.Option(Path("."), "--root", help="Project root.")


def _stdin_json() -> list[Any]:
    text = sys.stdin.read()
    try:
        return parse_json_pages(text) if text.strip() else []
    except ValueError as error:
        raise GitmlError(
            f"The input is not a JSON array: {error}.", "Pipe `gh ... --json` output."
        ) from None


@app.command("model-changed")
def model_changed_command(
    base: str = typer.Option(..., "--base", help="Base commit (github.event.before)."),
    head: str = typer.Option("HEAD", "--head", help="Head commit."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Print changed=true when the model's md5 in dvc.lock differs between BASE and HEAD."""
    with user_errors():
        path = artifact_path(root, artifact)
        changed = model_changed(read_lock(root, base), read_lock(root, head), path)
    typer.echo(outputs(changed=changed, path=path), nl=False)


@app.command("gates")
def gates_command(
    ref: str = typer.Argument("HEAD", help="Commit to judge."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Judge REF with the promotion gates against the newest registered version; exit 1 on failure."""
    with user_errors():
        report, against = gate_check(root, ref, artifact)
    who = against or "the floors (no version registered yet)"
    typer.echo(f"gates of {ref} against {who}:", err=True)
    for result in report.results:
        typer.echo(
            f"  {'pass' if result.passed else 'FAIL'}  {result.gate}: {result.detail}", err=True
        )
    typer.echo(outputs(passed=report.passed, against=against or ""), nl=False)
    if not report.passed:
        raise typer.Exit(1)


@app.command("remote")
def remote_command(root: Path = _ROOT) -> None:
    """Print configured=true and the name when the repository has a default DVC remote."""
    name = remote_name(root)
    typer.echo(outputs(configured=name is not None, name=name or ""), nl=False)


@app.command("marker")
def marker_command(root: Path = _ROOT) -> None:
    """Print the hidden marker of the report comment (`report.marker` in conf/gitml.yaml)."""
    from gitml.policy import load_policy

    with user_errors():
        typer.echo(load_policy(root).report.marker)


@app.command("find-comment")
def find_comment_command(
    marker: str = typer.Option(..., "--marker", help="The hidden marker line."),
    author: str | None = typer.Option(None, "--author", help="Only comments by this login."),
) -> None:
    """Read `gh api .../comments` JSON on stdin; print the id of the marked comment, if any."""
    with user_errors():
        found = find_marked_comment(_stdin_json(), marker, author)
    if found is not None:
        typer.echo(found)


@app.command("open-pr")
def open_pr_command(
    prefix: str = typer.Option(..., "--prefix", help="Head branch prefix, e.g. gitml/retrain/."),
) -> None:
    """Read `gh pr list --json number,headRefName,state` on stdin; print open=true|false."""
    with user_errors():
        found = open_prs_with_prefix(_stdin_json(), prefix)
    number = found[0].get("number", "") if found else ""
    typer.echo(outputs(open=bool(found), number=number), nl=False)


@app.command("sweep-matrix")
def sweep_matrix_command(
    spec: str = typer.Argument(..., help="Overrides, e.g. 'model.max_depth=3,5 seed=1,2'."),
) -> None:
    """Print matrix=<JSON> for `strategy.matrix` from a sweep spec (one entry per run)."""
    with user_errors():
        runs = expand_sweep(spec)
    include = [{"index": i, "overrides": r} for i, r in enumerate(runs)]
    typer.echo(outputs(matrix=json.dumps({"include": include}), count=len(runs)), nl=False)


@app.command("deploy-target")
def deploy_target_command(
    tag: str | None = typer.Option(None, "--tag", help="An assignment tag (name#stage#N)."),
    stage: str | None = typer.Option(None, "--stage", help="Or the stage to deploy."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Resolve what to deploy: the version now holding the tag's (or the given) stage."""
    from gitml import registry
    from gitml.policy import load_policy
    from gitml.registry.grammar import Action, parse_tag

    with user_errors():
        name = artifact or None
        if tag:
            parsed = parse_tag(tag)
            if parsed is None or parsed.action is not Action.ASSIGN:
                raise GitmlError(
                    f"'{tag}' is not a stage assignment tag.", "Expected name#stage#N."
                )
            name, stage = parsed.artifact, parsed.stage
        if not stage:
            raise GitmlError("Nothing to deploy: pass --tag or --stage.", "See docs/ci.md.")
        name = name or load_policy(root).artifact
        holder = registry.resolve(root, name, stage)
        if holder is None:
            raise GitmlError(
                f"No version of '{name}' holds '{stage}' now.",
                "Promote one first (promote.yml, or gitml model promote).",
            )
    typer.echo(
        outputs(artifact=name, stage=stage, version=holder.version, commit=holder.commit), nl=False
    )


@app.command("verify")
def verify_command(
    version: str = typer.Option(..., "--version", help="The registered version."),
    file: Path = typer.Option(..., "--file", help="The fetched artifact."),
    artifact: str | None = typer.Option(None, "--artifact", help="Artifact (default: policy's)."),
    root: Path = _ROOT,
) -> None:
    """Check the fetched file's md5 against dvc.lock at the version and its registration tag."""
    from gitml import registry
    from gitml.fileio import md5_file

    with user_errors():
        info = registry.lineage(root, version, artifact)
        expected = info.get("artifact_md5")
        recorded = [
            e.get("artifact_md5")
            for e in registry.history(root, artifact)
            if e.get("action") == "register" and e.get("version") == info.get("version")
        ]
        actual = md5_file(file)
        if not expected or actual != expected or any(r and r != actual for r in recorded):
            raise GitmlError(
                f"Digest mismatch for {version}: the file has md5 {actual}, dvc.lock at the "
                f"version's commit says {expected}, the registration tag says {recorded}.",
                "The artifact is not the registered one; do not deploy it.",
                exit_code=1,
            )
    typer.echo(outputs(digest=actual), nl=False)


@app.command("smoke")
def smoke_command(
    url: str = typer.Option("http://127.0.0.1:8080", "--url", help="The server's base URL."),
    digest: str | None = typer.Option(None, "--digest", help="Expected model digest (md5)."),
    wait: float = typer.Option(120, "--wait", help="Seconds to wait for /health."),
) -> None:
    """Smoke-test a running `gitml serve`: /health, /metadata digest, one /invocations row."""
    with user_errors():
        result = smoke_test(url, digest, wait)
    typer.echo(f"smoke test passed: {json.dumps(result)}", err=True)
    typer.echo(outputs(version=result["version"], digest=result["digest"]), nl=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m gitml.ci`."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    app(args=list(argv) if argv is not None else None, prog_name="python -m gitml.ci")


if __name__ == "__main__":
    main()
