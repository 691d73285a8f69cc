"""A loaded model and its identity (name, version, stage, commit, digest) for serving and scoring.

`from_file` loads a skops file and the `signature.json` next to it (`--model PATH`); the version
is then "local" and the md5 digest of the file's bytes identifies it. `from_bytes` is what the
registry path uses once it has fetched the artifact at a version's commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitml import scoring
from gitml.errors import GitmlError
from gitml.fileio import md5_bytes
from gitml.lockfile import json_or_none
from gitml.modeling import Signature, load_signature, loads_model

LOCAL_VERSION = "local"


@dataclass(frozen=True)
class ModelBundle:
    """A model ready to score, with everything a response header or log line names."""

    model: Any
    signature: Signature
    name: str
    version: str
    digest: str
    stage: str | None = None
    commit: str | None = None
    source: str = ""
    #: The skops bytes the model was loaded from (what `gitml predict --engine dask` ships to
    #: its workers, which load and digest-check it themselves).
    data: bytes = field(default=b"", repr=False, compare=False)
    #: What scores: "skops" (`model`) or "onnx" (`compiled`, a `gitml.serve.compiled.
    #: CompiledModel`; `model` stays loaded for explanations). See `gitml.serve.compiled`.
    runtime: str = "skops"
    compiled: Any = field(default=None, repr=False, compare=False)

    def score(self, columns: scoring.Columns) -> scoring.Scores:
        """Score validated columns with the bundle's runtime."""
        if self.compiled is not None:
            return self.compiled.score(self.signature, columns)
        return scoring.score(self.model, self.signature, columns)

    def metadata(self) -> dict[str, Any]:
        """What GET /metadata returns."""
        return {
            "artifact": self.name,
            "version": self.version,
            "stage": self.stage,
            "commit": self.commit,
            "digest": self.digest,
            "source": self.source,
            "runtime": self.runtime,
            "compiled": None if self.compiled is None else self.compiled.describe(),
            "signature": self.signature.to_dict(),
        }


def from_bytes(
    data: bytes,
    signature: Signature,
    trusted: Sequence[str],
    *,
    name: str,
    version: str,
    stage: str | None = None,
    commit: str | None = None,
    source: str = "",
    load: bool = True,
) -> ModelBundle:
    """Load skops bytes (trusting only `trusted`, from conf/) into a bundle.

    With `load` False the bytes are kept but not loaded (`model` is None): for a process that
    only ships them, as the Dask client does; its workers load and check them (`from_bytes`).
    """
    model = None
    if load:
        model = loads_model(data, list(trusted), source=source or f"{name} {version}")
        _check_signature(model, signature, source or name)
    return ModelBundle(
        model, signature, name, version, md5_bytes(data), stage, commit, source, data
    )


def with_runtime(bundle: ModelBundle, runtime: str, root: Path, outputs: Any) -> ModelBundle:
    """A `--model PATH` bundle set to score with `runtime`, the compiled model looked up in the
    project at `root` (see `gitml.serve.compiled.in_workspace`)."""
    from gitml.serve import compiled

    return compiled.attach(
        bundle, runtime, lambda: compiled.in_workspace(Path(root), outputs, bundle.digest)
    )


def from_file(
    path: str | Path,
    trusted: Sequence[str],
    name: str,
    signature_path: str | Path | None = None,
    load: bool = True,
) -> ModelBundle:
    """Load `--model PATH` and the signature next to it (or at `signature_path`)."""
    model_path = Path(path)
    if not model_path.is_file():
        raise GitmlError(
            f"The model file '{model_path}' does not exist.",
            "Pass the path of a skops file written by the train stage.",
        )
    sig_path = Path(signature_path) if signature_path else model_path.with_name("signature.json")
    signature = load_signature(sig_path)
    return from_bytes(
        model_path.read_bytes(),
        signature,
        trusted,
        name=name,
        version=LOCAL_VERSION,
        source=str(model_path),
        load=load,
    )


def signature_from_bytes(data: bytes, source: str) -> Signature:
    """Parse signature.json bytes (as fetched from the registry)."""
    try:
        return Signature.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise GitmlError(
            f"The signature in {source} is malformed ({exc}).",
            "Re-run the train stage to rewrite it.",
        ) from exc


def _check_signature(model: Any, signature: Signature, source: str) -> None:
    if not hasattr(model, "predict"):
        raise GitmlError(
            f"The object in {source} has no predict method.",
            "Serve a scikit-learn model written by the train stage.",
        )
    expected = getattr(model, "feature_names_in_", None)
    if expected is not None and list(expected) != signature.feature_names:
        raise GitmlError(
            f"The signature does not match the model in {source}: the model expects "
            f"{list(expected)}, the signature lists {signature.feature_names}.",
            "Serve the model with the signature.json the same train run wrote.",
        )


def from_registry(
    root: str | Path,
    trusted: Sequence[str],
    signature_path: str,
    *,
    stage: str | None = None,
    version: str | None = None,
    artifact: str | None = None,
    runtime: str = "skops",
    outputs: Any = None,
    load: bool = True,
) -> ModelBundle:
    """Resolve a stage or version through the registry and load the model at its commit.

    The registry fetches the model through DVC and checks its md5 against dvc.lock at that
    commit; the signature (tracked in git) is read at the same commit and checked against its
    md5 in dvc.lock too. With `runtime` auto or onnx, the version's compiled model comes along
    (verified the same way) and `outputs` (the policy's) says where it and its record are.
    """
    import tempfile

    from gitml.dvc import Dvc
    from gitml.fileio import md5_bytes as _md5
    from gitml.git import Git
    from gitml.registry import get

    ref = version or stage
    if not ref:
        raise GitmlError("No model chosen.", "Pass --stage S, --version vX.Y.Z or --model PATH.")
    from gitml.serve import compiled

    compiled.check_runtime(runtime)
    with_compiled = runtime != compiled.SKOPS and outputs is not None
    with tempfile.TemporaryDirectory(prefix="gitml-serve-") as tmp:
        fetched = get(
            root, ref, Path(tmp) / "model.skops", artifact=artifact, with_compiled=with_compiled
        )
        data = fetched.path.read_bytes()
        onnx_data = fetched.compiled.read_bytes() if fetched.compiled is not None else None
    git = Git(Path(root))
    raw_sig = git.read_file(fetched.commit, signature_path)
    where = f"{fetched.artifact}@{fetched.version} (commit {fetched.commit[:12]})"
    if raw_sig is None:
        raise GitmlError(
            f"There is no {signature_path} at {where}.",
            "The train stage writes it next to the model; check dvc.yaml there.",
        )
    snapshot = Dvc(Path(root), git).snapshot(fetched.artifact, fetched.commit)
    locked = snapshot.out_md5(signature_path)
    if locked is not None and _md5(raw_sig) != locked:
        raise GitmlError(
            f"{signature_path} at {where} has md5 {_md5(raw_sig)}, but dvc.lock records {locked}.",
            "The commit is inconsistent; re-run the pipeline and register a new version.",
        )
    signature = signature_from_bytes(raw_sig, where)
    bundle = from_bytes(
        data,
        signature,
        trusted,
        name=fetched.artifact,
        version=fetched.version,
        stage=stage,
        commit=fetched.commit,
        source=where,
        load=load,
    )

    def find() -> compiled.Candidate:
        if not with_compiled:
            return compiled.Candidate(None, None, where, "no compiled paths were given")
        if onnx_data is None:
            return compiled.Candidate(None, None, where, f"{where} has no compiled model")
        raw = git.read_file(fetched.commit, outputs.compile_record)
        reason = compiled.bind(
            snapshot.lock,
            outputs,
            fetched.md5,
            _md5(onnx_data),
            _md5(raw) if raw is not None else None,
        )
        return compiled.Candidate(
            onnx_data, json_or_none(raw), f"{outputs.compiled} at {where}", reason
        )

    return compiled.attach(bundle, runtime, find)
