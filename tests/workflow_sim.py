"""Run GitHub workflow jobs locally, from the YAML itself, for tests/integration/test_workflow_simulation.py.

GitHub cannot be reached from the test suite, so this module plays the runner:

- Jobs run in `needs` order; a job's and a step's `if:` and every `${{ ... }}` are evaluated by a
  small implementation of GitHub's expression language (contexts: github, inputs, vars, secrets,
  env, steps, needs, matrix, runner; functions: success, failure, always, cancelled, contains,
  startsWith, endsWith, format, fromJSON, toJSON). Unknown context keys are null, as on GitHub.
- `run:` steps run with `bash --noprofile --norc -eo pipefail` (GitHub's bash), in the job's
  checkout, with GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files and
  `continue-on-error` honoured; `steps.<id>.outputs/outcome/conclusion` are recorded.
- A job that calls a reusable workflow (`uses: ./.github/workflows/x.yml`) runs that workflow's
  jobs with `with:` as `inputs` and the caller's `github` context, as GitHub does.

Local equivalents of what only GitHub has (documented in `LOCAL_EQUIVALENTS`):

- `actions/checkout`: a clone of the bare "origin" repository on disk at the ref (shallow, depth 1,
  unless `fetch-depth: 0`); a pull request is checked out at its head commit (GitHub builds a merge
  commit with the base instead).
- `actions/setup-python`: nothing; the test's venv (requirements.lock installed) is first on PATH.
- `actions/upload-artifact` / `download-artifact`: copies to and from a local artifacts folder.
- steps with id `install` (`make install`): not run; that venv is already installed, and installing
  the checkout into it would repoint the shared editable `gitml`.
- steps with id `lint` and `test`: not run; the suite runs them itself (running the suite inside
  one of its own tests would recurse).
- `gh`: FAKE_GH, a fake of GitHub's API put first on PATH. It keeps pull requests and comments as
  JSON in a state folder and writes every comment and PR body to a file there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_EQUIVALENTS = {
    "actions/checkout": "git clone of the bare origin at the ref (depth 1 unless fetch-depth: 0)",
    "actions/setup-python": "none: the test venv is first on PATH",
    "actions/upload-artifact": "copy into the artifacts folder",
    "actions/download-artifact": "copy out of the artifacts folder",
    "install": "not run: the test venv already has requirements.lock installed",
    "lint": "not run: the suite runs ruff itself",
    "test": "not run: this test is part of the suite",
    "gh": "FAKE_GH: a fake of GitHub's API on PATH; comment and PR bodies go to files",
}
SKIPPED_STEP_IDS = ("install", "lint", "test")

# ---- expressions -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[!<>(),])"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.[\w-]+|\.\*)*))"
)
_STATUS_FUNCS = ("success(", "failure(", "always(", "cancelled(")


class ExpressionError(ValueError):
    """An expression this runner cannot evaluate."""


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    value: Any = context
    for part in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def to_text(value: Any) -> str:
    """How GitHub interpolates a value into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return str(value)


def evaluate(expr: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> Any:
    """Evaluate one GitHub expression (without the `${{ }}`)."""
    out: list[str] = []
    names: dict[str, Any] = {}
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"cannot parse {expr!r} at {pos}")
        pos = match.end()
        if match["str"] is not None:
            out.append(repr(match["str"][1:-1].replace("''", "'")))
        elif match["num"] is not None:
            out.append(match["num"])
        elif match["op"] is not None:
            out.append({"&&": " and ", "||": " or ", "!": " not "}.get(match["op"], match["op"]))
        else:
            name = match["name"]
            following = expr[pos:].lstrip()
            if following.startswith("("):
                if name not in _FUNCTIONS and name not in (
                    "success",
                    "failure",
                    "always",
                    "cancelled",
                ):
                    raise ExpressionError(f"unknown function {name}")
                out.append(f"_f_{name}")
            elif name in ("true", "false", "null"):
                out.append({"true": "True", "false": "False", "null": "None"}[name])
            else:
                key = f"_v{len(names)}"
                names[key] = _lookup(context, name)
                out.append(key)
    namespace: dict[str, Any] = {f"_f_{k}": v for k, v in _FUNCTIONS.items()}
    namespace.update(
        _f_success=lambda: status["success"],
        _f_failure=lambda: status["failure"],
        _f_always=lambda: True,
        _f_cancelled=lambda: False,
        **names,
    )
    code = " ".join(out)
    try:
        return eval(code, {"__builtins__": {}}, namespace)  # the code is built from tokens above
    except Exception as error:
        raise ExpressionError(f"{expr!r} -> {code!r}: {error}") from error


def _format(fmt: str, *args: Any) -> str:
    return re.sub(r"\{(\d+)\}", lambda m: to_text(args[int(m[1])]), fmt)


_FUNCTIONS: dict[str, Any] = {
    "contains": lambda a, b: (
        (str(b).lower() in str(a).lower()) if isinstance(a, str) else b in (a or [])
    ),
    "startsWith": lambda a, b: str(a).lower().startswith(str(b).lower()),
    "endsWith": lambda a, b: str(a).lower().endswith(str(b).lower()),
    "format": _format,
    "fromJSON": lambda s: json.loads(s),
    "toJSON": lambda v: json.dumps(v),
}


def interpolate(text: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> str:
    """Replace every `${{ expr }}` in `text`."""
    return re.sub(
        r"\$\{\{(.*?)\}\}", lambda m: to_text(evaluate(m[1], context, status)), text, flags=re.S
    )


def condition(raw: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> bool:
    """An `if:` value: implicit `success() &&` unless it calls a status function."""
    if raw is None:
        return status["success"]
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip()
    inner = re.fullmatch(r"\$\{\{(.*)\}\}", text, flags=re.S)
    text = inner[1] if inner else text
    value = evaluate(text, context, status)
    if not any(f in text for f in _STATUS_FUNCS):
        return status["success"] and bool(value)
    return bool(value)


def _deep(value: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", value, flags=re.S)
        if whole and "${{" not in whole[1]:
            return evaluate(whole[1], context, status)
        return interpolate(value, context, status)
    if isinstance(value, Mapping):
        return {k: _deep(v, context, status) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v, context, status) for v in value]
    return value


# ---- the runner --------------------------------------------------------------------------------


@dataclass
class StepResult:
    """What one step did."""

    name: str
    outcome: str  # success | failure | skipped
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    replaced: str | None = None  # the local equivalent used instead of running it


@dataclass
class JobResult:
    """What one job did."""

    result: str  # success | failure | skipped
    steps: dict[str, StepResult] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    workspace: Path | None = None
    called: dict[str, JobResult] = field(default_factory=dict)  # jobs of a reusable workflow

    def step(self, step_id: str) -> StepResult:
        return self.steps[step_id]

    def log(self) -> str:
        return "\n".join(
            f"--- {sid} [{s.outcome}] {s.replaced or ''}\n{s.stdout}\n{s.stderr}"
            for sid, s in self.steps.items()
        )


class WorkflowError(AssertionError):
    """A job that failed where the test expected success, with its log."""


@dataclass
class Runner:
    """Runs workflows of `project` (a folder holding .github/workflows) against a local origin."""

    project: Path
    origin: Path
    work: Path
    bin_dirs: list[Path]
    base_env: dict[str, str]
    vars: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    repository: str = "acme/credit"
    run_counter: int = 100

    @property
    def artifacts(self) -> Path:
        return self.work / "artifacts"

    def load(self, workflow: str) -> dict[str, Any]:
        path = self.project / ".github/workflows" / workflow
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    def run(
        self,
        workflow: str,
        event_name: str,
        *,
        ref: str,
        sha: str | None = None,
        event: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        jobs: list[str] | None = None,
        github: Mapping[str, Any] | None = None,
    ) -> dict[str, JobResult]:
        """Run a workflow's jobs for one event; returns each job's result by id."""
        self.run_counter += 1
        wf = self.load(workflow)
        ref_name = ref.split("/", 2)[2] if ref.count("/") >= 2 else ref
        gh = {
            "event_name": event_name,
            "ref": ref,
            "ref_name": ref_name,
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "sha": sha or self._origin_sha(ref),
            "repository": self.repository,
            "repository_owner": self.repository.split("/")[0],
            "workflow": wf.get("name", workflow),
            "run_id": str(self.run_counter),
            "run_number": str(self.run_counter),
            "actor": "octocat",
            "server_url": "https://github.com",
            "event": dict(event or {}),
            "base_ref": (event or {}).get("pull_request", {}).get("base", {}).get("ref", ""),
            "head_ref": (event or {}).get("pull_request", {}).get("head", {}).get("ref", ""),
        }
        gh["event"].setdefault("repository", {"default_branch": "main"})
        gh.update(github or {})
        return self._run_jobs(wf, workflow, gh, dict(inputs or {}), jobs)

    def _origin_sha(self, ref: str) -> str:
        out = subprocess.run(
            ["git", "rev-parse", f"{ref}^{{commit}}"],
            cwd=self.origin,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def _run_jobs(
        self,
        wf: Mapping[str, Any],
        workflow: str,
        gh: Mapping[str, Any],
        inputs: dict[str, Any],
        only: list[str] | None,
    ) -> dict[str, JobResult]:
        declared = ((wf.get("on") or wf.get(True) or {}) or {}).get("workflow_call") or {}
        for key, spec in (declared.get("inputs") or {}).items():
            inputs.setdefault(key, (spec or {}).get("default"))
        results: dict[str, JobResult] = {}
        pending = [j for j in wf["jobs"] if only is None or j in only]
        while pending:
            ready = [
                j
                for j in pending
                if all(n in results or n not in pending for n in _needs(wf["jobs"][j]))
            ]
            if not ready:
                raise WorkflowError(f"{workflow}: a cycle in needs among {pending}")
            for job_id in ready:
                pending.remove(job_id)
                results[job_id] = self._job(wf, workflow, job_id, gh, inputs, results)
        return results

    def _context(
        self,
        wf: Mapping[str, Any],
        gh: Mapping[str, Any],
        inputs: Mapping[str, Any],
        needs: Mapping[str, JobResult],
        job: Mapping[str, Any],
        matrix: Mapping[str, Any],
        env: Mapping[str, str],
        steps: Mapping[str, StepResult],
        temp: Path,
    ) -> dict[str, Any]:
        return {
            "github": gh,
            "inputs": inputs,
            "vars": self.vars,
            "secrets": self.secrets,
            "env": env,
            "matrix": matrix,
            "runner": {"temp": str(temp), "os": "Linux"},
            "needs": {
                n: {"result": needs[n].result, "outputs": needs[n].outputs}
                for n in _needs(job)
                if n in needs
            },
            "steps": {
                sid: {"outputs": s.outputs, "outcome": s.outcome, "conclusion": s.conclusion}
                for sid, s in steps.items()
            },
        }

    def _job(
        self,
        wf: Mapping[str, Any],
        workflow: str,
        job_id: str,
        gh: Mapping[str, Any],
        inputs: Mapping[str, Any],
        done: Mapping[str, JobResult],
    ) -> JobResult:
        job = wf["jobs"][job_id]
        needs_ok = all(done[n].result == "success" for n in _needs(job) if n in done)
        status = {"success": needs_ok, "failure": not needs_ok}
        temp = self.work / f"run{gh['run_id']}-{Path(workflow).stem}-{job_id}"
        ctx = self._context(wf, gh, inputs, done, job, {}, {}, {}, temp)
        if not condition(job.get("if"), ctx, status):
            return JobResult("skipped")
        if "uses" in job:
            called = self.load(Path(job["uses"]).name)
            with_ = _deep(job.get("with") or {}, ctx, status)
            inner = self._run_jobs(called, Path(job["uses"]).name, gh, dict(with_), None)
            ok = all(r.result in ("success", "skipped") for r in inner.values())
            return JobResult("success" if ok else "failure", called=inner)
        matrices = _matrix(job.get("strategy", {}).get("matrix"), ctx, status)
        results = [
            self._steps(wf, job_id, job, gh, inputs, done, matrix, temp / str(i))
            for i, matrix in enumerate(matrices)
        ]
        if len(results) == 1:
            return results[0]
        merged = JobResult("success" if all(r.result == "success" for r in results) else "failure")
        merged.called = {f"{job_id}[{i}]": r for i, r in enumerate(results)}
        return merged

    def _steps(
        self,
        wf: Mapping[str, Any],
        job_id: str,
        job: Mapping[str, Any],
        gh: Mapping[str, Any],
        inputs: Mapping[str, Any],
        done: Mapping[str, JobResult],
        matrix: Mapping[str, Any],
        temp: Path,
    ) -> JobResult:
        temp.mkdir(parents=True, exist_ok=True)
        workspace = temp / "workspace"
        runner_temp = temp / "runner_temp"
        runner_temp.mkdir(exist_ok=True)
        result = JobResult("success", workspace=workspace)
        env: dict[str, str] = {}
        extra_path: list[str] = []
        status = {"success": True, "failure": False}
        ctx = self._context(wf, gh, inputs, done, job, matrix, env, {}, runner_temp)
        for scope in (wf.get("env") or {}, job.get("env") or {}):
            env.update({k: to_text(_deep(v, ctx, status)) for k, v in scope.items()})
        for index, step in enumerate(job.get("steps") or []):
            step_id = step.get("id") or f"_{index}"
            name = step.get("name") or step.get("uses") or step_id
            ctx = self._context(wf, gh, inputs, done, job, matrix, env, result.steps, runner_temp)
            if not condition(step.get("if"), ctx, status):
                result.steps[step_id] = StepResult(name, "skipped", "skipped")
                continue
            step_env = dict(env)
            step_env.update(
                {k: to_text(_deep(v, ctx, status)) for k, v in (step.get("env") or {}).items()}
            )
            if "uses" in step:
                res = self._action(step, _deep(step.get("with") or {}, ctx, status), gh, workspace)
            elif step_id in SKIPPED_STEP_IDS:
                res = StepResult(name, "success", "success", replaced=LOCAL_EQUIVALENTS[step_id])
            else:
                script = interpolate(step["run"], ctx, status)
                res = self._bash(
                    name, script, workspace, runner_temp, step_env, extra_path, gh, env, result
                )
            if res.outcome == "failure" and step.get("continue-on-error"):
                res.conclusion = "success"
            result.steps[step_id] = res
            if res.conclusion == "failure":
                status = {"success": False, "failure": True}
        result.result = "success" if status["success"] else "failure"
        ctx = self._context(wf, gh, inputs, done, job, matrix, env, result.steps, runner_temp)
        result.outputs = {
            k: to_text(_deep(v, ctx, status)) for k, v in (job.get("outputs") or {}).items()
        }
        return result

    def _bash(
        self,
        name: str,
        script: str,
        workspace: Path,
        runner_temp: Path,
        step_env: dict[str, str],
        extra_path: list[str],
        gh: Mapping[str, Any],
        job_env: dict[str, str],
        result: JobResult,
    ) -> StepResult:
        files = {
            k: runner_temp / f"_{k.lower()}" for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")
        }
        for f in files.values():
            f.write_text("", encoding="utf-8")
        summary = runner_temp / "_summary.md"
        full_env = dict(self.base_env)
        full_env.update(step_env)
        full_env.update({k: str(v) for k, v in files.items()})
        full_env.update(
            GITHUB_STEP_SUMMARY=str(summary),
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_REPOSITORY=str(gh["repository"]),
            GITHUB_RUN_ID=str(gh["run_id"]),
            GITHUB_SERVER_URL=str(gh["server_url"]),
            GITHUB_ACTOR=str(gh["actor"]),
            GITHUB_EVENT_NAME=str(gh["event_name"]),
            GITHUB_REF=str(gh["ref"]),
            GITHUB_SHA=str(gh["sha"]),
            RUNNER_TEMP=str(runner_temp),
            CI="true",
        )
        path = [*extra_path, *(str(b) for b in self.bin_dirs), self.base_env.get("PATH", "")]
        full_env["PATH"] = os.pathsep.join(p for p in path if p)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        outputs = _parse_env_file(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
        job_env.update(_parse_env_file(files["GITHUB_ENV"].read_text(encoding="utf-8")))
        extra_path[:0] = [
            p for p in files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines() if p
        ]
        if summary.exists():
            result.summary = summary.read_text(encoding="utf-8")
        outcome = "success" if proc.returncode == 0 else "failure"
        return StepResult(name, outcome, outcome, outputs, proc.stdout, proc.stderr)

    def _action(
        self, step: Mapping[str, Any], with_: Mapping[str, Any], gh: Mapping[str, Any], ws: Path
    ) -> StepResult:
        action = str(step["uses"]).split("@")[0]
        name = step.get("name") or action
        if action == "actions/checkout":
            self._checkout(ws, with_, gh)
        elif action == "actions/setup-python":
            pass
        elif action == "actions/upload-artifact":
            dest = self.artifacts / str(with_["name"])
            dest.mkdir(parents=True, exist_ok=True)
            for line in str(with_["path"]).splitlines():
                src = Path(line.strip())
                if src.is_dir():
                    shutil.copytree(src, dest, dirs_exist_ok=True)
                elif src.is_file():
                    shutil.copy2(src, dest / src.name)
                elif line.strip():
                    return StepResult(name, "failure", "failure", stderr=f"no such path: {src}")
        elif action == "actions/download-artifact":
            src = self.artifacts / str(with_["name"])
            if not src.is_dir():
                return StepResult(name, "failure", "failure", stderr=f"no artifact {src.name}")
            shutil.copytree(src, Path(str(with_["path"])), dirs_exist_ok=True)
        else:
            raise WorkflowError(f"no local equivalent for the action {action}")
        return StepResult(name, "success", "success", replaced=LOCAL_EQUIVALENTS[action])

    def _checkout(self, ws: Path, with_: Mapping[str, Any], gh: Mapping[str, Any]) -> None:
        env = self.base_env
        origin = f"file://{self.origin}"
        ref = str(with_.get("ref") or "")
        if not ref:
            pr = gh["event"].get("pull_request")
            ref = pr["head"]["sha"] if pr else str(gh["ref"])
        full = str(with_.get("fetch-depth", 1)) == "0"

        def git(*args: str, cwd: Path = ws) -> None:
            subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

        if full:
            git("clone", "-q", origin, str(ws), cwd=ws.parent)
        else:
            ws.mkdir(parents=True)
            git("init", "-q")
            git("remote", "add", "origin", origin)
        if ref.startswith("refs/heads/"):
            branch = ref.removeprefix("refs/heads/")
            if not full:
                git(
                    "fetch",
                    "-q",
                    "--depth",
                    "1",
                    "--no-tags",
                    "origin",
                    f"{ref}:refs/remotes/origin/{branch}",
                )
            git("checkout", "-q", "-B", branch, f"refs/remotes/origin/{branch}")
        else:
            if not full:
                git("fetch", "-q", "--depth", "1", "--no-tags", "origin", ref)
                ref = "FETCH_HEAD"
            git("checkout", "-q", "--detach", ref)


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _matrix(raw: Any, ctx: Mapping[str, Any], status: Mapping[str, bool]) -> list[dict[str, Any]]:
    if raw is None:
        return [{}]
    value = _deep(raw, ctx, status)
    if isinstance(value, str):
        value = json.loads(value)
    include = list(value.pop("include", []) or [])
    axes = {k: v for k, v in value.items() if k != "exclude"}
    combos: list[dict[str, Any]] = [{}]
    for key, values in axes.items():
        combos = [{**c, key: v} for c in combos for v in values]
    return [c for c in combos if c] + include or [{}]


def _parse_env_file(text: str) -> dict[str, str]:
    """`key=value` lines and `key<<DELIM` blocks, as GitHub reads $GITHUB_OUTPUT and $GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            values[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
        i += 1
    return values


# ---- FAKE_GH: a fake of GitHub's API, as the `gh` command ----------------------------------------

FAKE_GH_SCRIPT = """#!/bin/sh
# FAKE gh: a fake of GitHub's API for the workflow simulation (tests/workflow_sim.py). Not GitHub.
exec "{python}" "{module}" fake-gh "$@"
"""


def install_fake_gh(bin_dir: Path, state: Path) -> Path:
    """Write the fake `gh` into `bin_dir`; its state (PRs, comments, bodies) lives in `state`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(
        FAKE_GH_SCRIPT.format(python=sys.executable, module=Path(__file__).resolve()),
        encoding="utf-8",
    )
    gh.chmod(0o755)
    return gh


class FakeGitHub:
    """The state of the fake: pull requests and issue comments, persisted as JSON files."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.file = state / "github.json"

    def load(self) -> dict[str, Any]:
        if self.file.exists():
            return json.loads(self.file.read_text(encoding="utf-8"))
        return {"prs": [], "comments": [], "next_id": 1000}

    def save(self, data: Mapping[str, Any]) -> None:
        self.file.write_text(json.dumps(data, indent=2), encoding="utf-8")

    def comments(self, pr: int | None = None) -> list[dict[str, Any]]:
        return [c for c in self.load()["comments"] if pr is None or c["pr"] == pr]

    def prs(self) -> list[dict[str, Any]]:
        return self.load()["prs"]


def _opt(args: list[str], *names: str) -> str | None:
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
        for n in names:
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def fake_gh(argv: list[str]) -> int:
    """The fake `gh` command: the few calls the workflows make, against local state."""
    if not os.environ.get("GH_TOKEN"):
        sys.stderr.write("fake gh: GH_TOKEN is not set (gh would ask to log in)\n")
        return 4
    state = Path(os.environ["FAKE_GH_STATE"])
    hub = FakeGitHub(state)
    data = hub.load()
    repo = os.environ.get("GITHUB_REPOSITORY", "acme/credit")
    with open(state / "calls.log", "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    if argv[:2] == ["pr", "comment"]:
        number = int(argv[2])
        body = Path(_opt(argv, "--body-file") or "").read_text(encoding="utf-8")
        data["next_id"] += 1
        cid = data["next_id"]
        data["comments"].append(
            {"id": cid, "pr": number, "body": body, "user": {"login": "github-actions[bot]"}}
        )
        (state / f"comment-{cid}.md").write_text(body, encoding="utf-8")
        hub.save(data)
        print(f"https://github.com/{repo}/pull/{number}#issuecomment-{cid}")
        return 0
    if argv[:2] == ["pr", "list"]:
        wanted = (_opt(argv, "--state") or "open").upper()
        fields = (_opt(argv, "--json") or "number").split(",")
        rows = [
            {f: pr.get(f) for f in fields} for pr in data["prs"] if wanted in ("ALL", pr["state"])
        ]
        print(json.dumps(rows))
        return 0
    if argv[:2] == ["pr", "create"]:
        head, base = _opt(argv, "--head"), _opt(argv, "--base")
        title = _opt(argv, "--title") or ""
        body = Path(_opt(argv, "--body-file") or "").read_text(encoding="utf-8")
        origin = os.environ["FAKE_GH_ORIGIN"]
        found = subprocess.run(
            ["git", "ls-remote", "--exit-code", origin, f"refs/heads/{head}"],
            capture_output=True,
        )
        if found.returncode != 0:
            sys.stderr.write(f"pull request create failed: head branch {head} is not on GitHub\n")
            return 1
        number = len(data["prs"]) + 1
        data["prs"].append(
            {
                "number": number,
                "headRefName": head,
                "baseRefName": base,
                "title": title,
                "state": "OPEN",
                "body": body,
            }
        )
        (state / f"pr-{number}.md").write_text(body, encoding="utf-8")
        hub.save(data)
        print(f"https://github.com/{repo}/pull/{number}")
        return 0
    if argv[:1] == ["api"]:
        method = (_opt(argv, "--method", "-X") or "GET").upper()
        path = next(a for a in argv[1:] if a.startswith("repos/"))
        path = path.replace("{owner}/{repo}", repo)
        listing = re.fullmatch(rf"repos/{re.escape(repo)}/issues/(\d+)/comments", path)
        single = re.fullmatch(rf"repos/{re.escape(repo)}/issues/comments/(\d+)", path)
        if listing and method == "GET":
            rows = [c for c in data["comments"] if c["pr"] == int(listing[1])]
            print(json.dumps([{k: c[k] for k in ("id", "body", "user")} for c in rows]))
            return 0
        if single and method == "PATCH":
            field_arg = _opt(argv, "-F", "--field") or ""
            body = field_arg.removeprefix("body=")
            if body.startswith("@"):
                body = Path(body[1:]).read_text(encoding="utf-8")
            for c in data["comments"]:
                if c["id"] == int(single[1]):
                    c["body"] = body
                    (state / f"comment-{c['id']}.md").write_text(body, encoding="utf-8")
                    hub.save(data)
                    print(json.dumps({"id": c["id"]}))
                    return 0
            sys.stderr.write("gh: Not Found (HTTP 404)\n")
            return 1
    sys.stderr.write(f"fake gh: unsupported call {argv}\n")
    return 4


if __name__ == "__main__":
    if sys.argv[1:2] == ["fake-gh"]:
        sys.exit(fake_gh(sys.argv[2:]))
    sys.exit("usage: workflow_sim.py fake-gh ARGS")
