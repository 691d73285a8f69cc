"""`get`: write the artifact of a version or stage, verified against the md5 in dvc.lock."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import GitmlError
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


def get(root: Path | str, ref: str, output: Path | str, *, artifact: str | None = None) -> Fetched:
    """Write the artifact of a version (`v1.2.3`) or stage (`production`) to `output`.

    The bytes come through DVC at the version's commit and must match the md5 in dvc.lock there;
    on a mismatch nothing is written.
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
    snap = reg.dvc.artifact_at(name, found.commit)
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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        md5 = reg.dvc.fetch_bytes_to(snap.path, found.commit, tmp)
        if md5 != snap.md5:
            raise GitmlError(
                f"The bytes DVC returned for {name}@{found.version} have md5 {md5}, but dvc.lock "
                f"at {found.commit[:12]} records {snap.md5}. Nothing was written.",
                "The DVC cache or remote is corrupt or out of date: run `dvc fetch` / "
                "`dvc push` from a good copy.",
            )
        shutil.move(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return Fetched(target, name, found.version, found.commit, md5)
