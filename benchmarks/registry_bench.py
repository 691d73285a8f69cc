"""Registry benchmark: resolve + history over 1,500 tags beside `gto show NAME#prod --ref`.

To run: .venv/bin/python benchmarks/registry_bench.py   (needs gto 1.10.1 in the same venv)

Builds benchmarks/work/registry: 500 commits, each registered (`churn@v0.N.0`), assigned to
staging and to prod (1,500 annotated tags, written with `git fast-import`), ten versions per
tagger second, so most assignments share their second with others. The correct prod holder is
v0.500.0 (the largest counter). Prints both tools' answers, the timings and the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gitml.registry.model import format_message

VERSIONS = 500
PER_SECOND = 10
T0 = 1_700_000_000
POLICY = """\
# Benchmark policy.
artifact: churn
registry:
  stages: [staging, prod]
"""


def _data(text: str) -> str:
    raw = text.encode()
    return f"data {len(raw)}\n{text}\n"


def fast_import_stream(versions: int) -> str:
    """Commits and tags for `git fast-import`."""
    out: list[str] = []
    who = "Bench <bench@example.com>"
    counter = 0
    for i in range(1, versions + 1):
        ts = T0 + (i - 1) // PER_SECOND
        out.append(f"commit refs/heads/main\nmark :{i}\ncommitter {who} {ts} +0000\n")
        out.append(_data(f"train v{i}"))
        if i == 1:
            out.append("M 644 inline conf/gitml.yaml\n" + _data(POLICY))
            out.append("M 644 inline dvc.yaml\n" + _data(
                "artifacts:\n  churn:\n    path: models/model.pkl\n    type: model\n"
            ))  # fmt: skip
        out.append("M 644 inline model.txt\n" + _data(f"model {i}"))
        version = f"v0.{i}.0"
        tags = [(f"churn@{version}", f"Registering artifact churn version {version}")]
        for stage in ("staging", "prod"):
            counter += 1
            tags.append(
                (f"churn#{stage}#{counter}",
                 f"Assigning stage {stage} to artifact churn version {version}")
            )  # fmt: skip
        for name, subject in tags:
            body = {
                "actor": "bench",
                "reason": f"benchmark event {name}",
                "forced": False,
                "rollback_of": None,
                "candidate": {"version": version, "metrics": {"roc_auc": 0.8, "log_loss": 0.4}},
                "gates": {"passed": True, "results": [{"gate": "roc_auc", "passed": True}]},
            }
            out.append(f"tag {name}\nfrom :{i}\ntagger {who} {ts} +0000\n")
            out.append(_data(format_message(subject, body)))
    return "".join(out)


def build(repo: Path) -> None:
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    stream = fast_import_stream(VERSIONS)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream.encode(), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "registry")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    repo = args.work.resolve()
    build(repo)
    n_tags = len(subprocess.run(["git", "tag"], cwd=repo, capture_output=True, text=True,
                                check=True).stdout.split())  # fmt: skip

    from gitml import registry

    def gitml_api() -> tuple[str | None, int]:
        holder = registry.resolve(repo, "churn", "prod")
        events = registry.history(repo, "churn")
        return (holder.version if holder else None), len(events)

    api_s, (api_answer, n_events) = timed(gitml_api, args.repeat)

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "GTO_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1"}

    def cli(*cmd: str) -> str:
        return subprocess.run(list(cmd), cwd=repo, env=env, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    def gitml_cli() -> str:
        import json

        shown = json.loads(cli(str(bin_dir / "gitml"), "model", "show", "--json"))
        cli(str(bin_dir / "gitml"), "model", "history", "--json")
        return str(shown["stages"]["prod"])

    cli_s, cli_answer = timed(gitml_cli, 3)
    gto_s, gto_answer = timed(lambda: cli(str(bin_dir / "gto"), "show", "churn#prod", "--ref"))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.system()}")  # fmt: skip
    print(
        f"repo: {n_tags} tags ({VERSIONS} versions x register/staging/prod, "
        f"{PER_SECOND} versions per tagger second); correct prod holder: v0.{VERSIONS}.0"
    )
    print(
        f"gitml API  resolve + history ({n_events} events): {api_s * 1000:8.1f} ms  "
        f"-> churn@{api_answer}"
    )
    print(
        f"gitml CLI  show --json + history --json (2 processes): {cli_s * 1000:8.1f} ms  "
        f"-> churn@{cli_answer}"
    )
    print(f"gto 1.10.1 show churn#prod --ref: {gto_s * 1000:8.1f} ms  -> {gto_answer}")
    print(f"ratio gto / gitml API: {gto_s / api_s:6.1f}x   gto / gitml CLI: {gto_s / cli_s:6.1f}x")
    print(
        f"gitml correct: {api_answer == f'v0.{VERSIONS}.0'}   "
        f"gto correct: {gto_answer == f'churn@v0.{VERSIONS}.0'}"
    )


if __name__ == "__main__":
    main()
