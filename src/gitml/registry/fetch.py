"""`get`: write the artifact of a version or stage, verified against the md5 in dvc.lock."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gitml.dvc import Snapshot
from gitml.errors import GitmlError
from gitml.fileio import temp_file
from gitml.lockfile import dir_md5
from gitml.registry.grammar import SEMVER_RE
from gitml.registry.store import Registry, strip_artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """What `get` wrote."""

    path: Path
    artifact: str
    version: str
    commit: str
    md5: str
    #: The compiled ONNX model written next to it (None: the version has none) and its md5.
    compiled: Path | None = None
    compiled_md5: str | None = None


def get(
    root: Path | str,
    ref: str,
    output: Path | str,
    *,
    artifact: str | None = None,
    with_compiled: bool = True,
) -> Fetched:
    """Write the artifact of a version (`v1.2.3`) or stage (`production`) to `output`.

    The bytes come through DVC at the version's commit and must match the md5 in dvc.lock there;
    on a mismatch nothing is written. When the version has a compiled model (the compile stage's
    `outputs.compiled`, e.g. models/compiled/model.onnx), it is written next to the artifact in
    the same layout (`compiled/model.onnx`) and checked against the folder's md5 in dvc.lock too:
    either both files are written or neither.
    """
    reg = Registry(root)
    name = reg.artifact_name(artifact)
    art = reg.known_artifact(name)
    text = strip_artifact(strip_artifact(ref, name, "@"), name, "#")
    if SEMVER_RE.match(text):
        found = reg.find_version(art, text)
        reg.usable(art, found)
    else:
        reg.check_stage(text)
        for event in art.ignored(text):  # the trust policy's refusals, said where serving starts
            log.warning("%s#%s: ignored %s: %s", name, text, event.tag, event.ignored)
        holder = art.holder(text)
        if holder is None:
            raise GitmlError(f"Stage '{text}' of '{name}' is empty.", "See `gitml model show`.")
        found = holder
    snapshot = reg.dvc.snapshot(name, found.commit)
    snap = snapshot.artifact
    if snap.path is None or snap.md5 is None:
        raise GitmlError(
            f"Commit {found.commit[:12]} of {name}@{found.version} lacks the artifact in "
            "dvc.yaml/dvc.lock.",
            "Run `gitml model doctor` to list such tags.",
        )
    target = Path(output)
    if target.is_dir():
        target = target / Path(snap.path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    where = f"{name}@{found.version}"
    compiled = reg.policy.outputs.compiled if with_compiled else None
    locked_dir = _compiled_dir_md5(snapshot, compiled)
    onnx_target = None
    if compiled is not None and locked_dir is not None:
        onnx_target = target.parent / _beside(compiled, snap.path)
    with ExitStack() as stack:
        tmp = stack.enter_context(_temp_in(target.parent, target.name))
        md5 = reg.dvc.fetch_bytes_to(snap.path, found.commit, tmp)
        if md5 != snap.md5:
            raise GitmlError(
                f"The bytes DVC returned for {where} have md5 {md5}, but dvc.lock "
                f"at {found.commit[:12]} records {snap.md5}. Nothing was written.",
                _CORRUPT,
            )
        onnx_md5 = None
        if onnx_target is not None:
            assert compiled is not None and locked_dir is not None
            # beside the artifact: no folder is made before both files are verified
            onnx_tmp = stack.enter_context(_temp_in(target.parent, onnx_target.name))
            onnx_md5 = reg.dvc.fetch_bytes_to(compiled, found.commit, onnx_tmp)
            folder = str(PurePosixPath(compiled).parent)
            if dir_md5({PurePosixPath(compiled).name: onnx_md5}) != locked_dir:
                raise GitmlError(
                    f"The compiled model DVC returned for {where} ({compiled}, md5 {onnx_md5}) "
                    f"does not match dvc.lock at {found.commit[:12]}, which records {locked_dir} "
                    f"for {folder}. Nothing was written.",
                    _CORRUPT,
                )
            onnx_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(onnx_tmp, onnx_target)
        shutil.move(tmp, target)
    return Fetched(target, name, found.version, found.commit, md5, onnx_target, onnx_md5)


_CORRUPT = (
    "The DVC cache or remote is corrupt or out of date: run `dvc fetch` / `dvc push` from a "
    "good copy."
)


def _compiled_dir_md5(snapshot: Snapshot, compiled: str | None) -> str | None:
    """What dvc.lock records for the compiled model's folder, when the version has a compiled
    model (None: no compile stage at that commit, or it left the folder empty)."""
    if compiled is None:
        return None
    locked = snapshot.out_md5(str(PurePosixPath(compiled).parent))
    if locked is None or locked == dir_md5({}):
        return None
    return locked


def _beside(compiled: str, artifact: str) -> PurePosixPath:
    """Where the compiled model goes relative to the artifact's folder: the project's layout
    (models/compiled/model.onnx next to models/model.skops: compiled/model.onnx)."""
    path = PurePosixPath(compiled)
    try:
        return path.relative_to(PurePosixPath(artifact).parent)
    except ValueError:
        return PurePosixPath("compiled") / path.name


@contextmanager
def _temp_in(folder: Path, name: str) -> Iterator[Path]:
    """A temporary file for `name` in `folder` (same file system), removed unless moved away."""
    tmp = temp_file(folder, name)
    try:
        yield tmp
    finally:
        if tmp.exists():
            tmp.unlink()
