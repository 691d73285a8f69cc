"""The one adapter to git: every `git` process gitml runs (registry, report, CI, serving) starts here.

All tags come from ONE `git for-each-ref` call (name, object type, peeled commit, tagger, date,
subject, body, signature); objects and files at revisions from ONE `git cat-file --batch` call per
request.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitml.errors import GitmlError

log = logging.getLogger(__name__)

_FIELDS = (
    "%(refname:strip=2)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objectname)",
    "%(*objecttype)",
    "%(taggername)",
    "%(taggeremail:trim)",
    "%(taggerdate:unix)",
    "%(creatordate:unix)",
    "%(contents:subject)",
    "%(contents:body)",
    "%(contents:signature)",
)
_SEP = "\x00"
_FORMAT = "%00".join(_FIELDS) + "%00"


@dataclass(frozen=True)
class RawTag:
    """One tag as `git for-each-ref` reports it."""

    name: str
    object_type: str  # "tag" for annotated tags, "commit" for lightweight ones
    commit: str  # the commit the tag points to (peeled)
    target_type: str = "commit"  # type of the peeled object
    tagger_name: str = ""
    tagger_email: str = ""
    timestamp: int = 0  # tagger time (annotated) or committer time (lightweight), unix seconds
    subject: str = ""
    body: str = ""
    signature: str = ""
    object: str = ""  # the tag object's sha (annotated) or the commit (lightweight)

    @property
    def annotated(self) -> bool:
        return self.object_type == "tag"

    @property
    def signed(self) -> bool:
        return bool(self.signature.strip())

    @property
    def message(self) -> str:
        return f"{self.subject}\n\n{self.body}".strip() if self.body else self.subject


@dataclass(frozen=True)
class GitObject:
    """One object from `git cat-file --batch`: its sha, type (blob, commit, tree, tag) and bytes."""

    sha: str
    type: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class TagVerification:
    """What `git verify-tag --raw` said about one tag's signature."""

    good: bool  # git accepted the signature (for SSH: the key is in the allowed-signers file)
    format: str | None  # "ssh", "gpg", or None when the tag is not signed
    key: str | None  # SSH: the key's SHA256 fingerprint; GPG: the primary key's fingerprint
    principal: str | None  # SSH: the allowed-signers principal; GPG: the key's user id
    output: str  # git's (and gpg's / ssh-keygen's) messages


_SSH_GOOD = re.compile(
    r'Good "git" signature(?: for (?P<principal>.+?))? with \S+ key (?P<key>\S+)'
)


def _parse_verification(ok: bool, text: str, signature: str) -> TagVerification:
    """Read `git verify-tag --raw` output for SSH and GPG signatures."""
    if "BEGIN SSH SIGNATURE" in signature:
        match = _SSH_GOOD.search(text)
        key = match["key"] if match else None
        principal = match["principal"] if match and ok else None
        return TagVerification(ok, "ssh", key, principal, text)
    if "BEGIN PGP SIGNATURE" in signature:
        key = principal = None
        for line in text.splitlines():
            parts = line.split()
            if parts[:2] == ["[GNUPG:]", "VALIDSIG"] and len(parts) >= 3:
                key = parts[-1]  # the primary key's fingerprint
            elif len(parts) > 3 and parts[:2] == ["[GNUPG:]", "GOODSIG"]:
                principal = " ".join(parts[3:])
        return TagVerification(ok and key is not None, "gpg", key, principal, text)
    return TagVerification(False, None, None, None, text)


@dataclass(frozen=True)
class CommitInfo:
    """Who made a commit, when, and its subject."""

    commit: str
    author: str
    author_email: str
    date: str  # ISO 8601
    subject: str


class Git:
    """Run git in one repository."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def run(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.root, input=input, capture_output=True, env=env
            )
        except FileNotFoundError:
            raise GitmlError("git is not installed or not on PATH.", "Install git.") from None
        if check and proc.returncode != 0:
            raise GitmlError(
                f"git {args[0]} failed in {self.root}: "
                f"{proc.stderr.decode(errors='replace').strip()}",
                "Check the repository state and try again.",
            )
        return proc

    def text(self, *args: str) -> str:
        return self.run(*args).stdout.decode("utf-8", errors="replace").strip()

    # ---- reading -------------------------------------------------------------------------

    def ensure_repo(self) -> None:
        proc = self.run("rev-parse", "--git-dir", check=False)
        if proc.returncode != 0:
            raise GitmlError(
                f"{self.root} is not a git repository.",
                "Run gitml from inside the project's git repository.",
            )

    def read_tags(self) -> list[RawTag]:
        """Every tag with its annotation, in one `git for-each-ref` call."""
        out = self.run("for-each-ref", f"--format={_FORMAT}", "refs/tags").stdout.decode(
            "utf-8", errors="replace"
        )
        parts = out.split(_SEP)
        n = len(_FIELDS)
        tags: list[RawTag] = []
        for i in range(0, len(parts) - n + 1, n):
            (name, otype, oname, peeled, ptype, tagger, email, tdate, cdate, subject, body, sig) = (
                parts[i : i + n]
            )
            name = name.lstrip("\n")
            annotated = otype == "tag"
            tags.append(
                RawTag(
                    name=name,
                    object_type=otype,
                    commit=peeled if annotated else oname,
                    target_type=ptype if annotated else otype,
                    tagger_name=tagger,
                    tagger_email=email,
                    timestamp=int(tdate or cdate or 0),
                    subject=subject,
                    body=body,
                    signature=sig,
                    object=oname,
                )
            )
        return tags

    def rev_parse(self, rev: str) -> str | None:
        """The commit `rev` names, or None."""
        proc = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def ok(self, *args: str) -> bool:
        """Whether `git <args>` succeeds (for yes/no questions such as `cat-file -e`)."""
        return self.run(*args, check=False).returncode == 0

    def tracks(self, path: str) -> bool:
        """Whether git tracks `path` (relative to the repository root)."""
        return self.ok("ls-files", "--error-unmatch", "--", path)

    def output(self, *args: str) -> str | None:
        """The stripped output of `git <args>`, or None when it fails or prints nothing."""
        proc = self.run(*args, check=False)
        out = proc.stdout.decode("utf-8", errors="replace").strip()
        return out if proc.returncode == 0 and out else None

    def is_shallow(self) -> bool:
        return self.output("rev-parse", "--is-shallow-repository") == "true"

    def merge_base(self, a: str, b: str) -> str | None:
        return self.output("merge-base", a, b)

    def subject(self, commit: str) -> str:
        return self.output("log", "-1", "--format=%s", commit) or ""

    def head_branch(self) -> str | None:
        """The checked-out branch, or None when HEAD is detached."""
        proc = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def dirty_paths(self) -> list[str]:
        """Tracked files with uncommitted changes (untracked files do not count)."""
        out = self.run("status", "--porcelain", "--untracked-files=no").stdout.decode()
        return [line[3:] for line in out.splitlines() if line.strip()]

    def batch(self, queries: Sequence[str]) -> dict[str, GitObject | None]:
        """Each `<rev>` or `<rev>:<path>` as a git object (None when missing), in one
        `git cat-file --batch`."""
        if not queries:
            return {}
        request = "".join(f"{q}\n" for q in queries).encode()
        out = self.run("cat-file", "--batch", input=request).stdout
        found: dict[str, GitObject | None] = {}
        pos = 0
        for query in queries:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            pos = end + 1
            if len(header) == 3:
                size = int(header[2])
                found[query] = GitObject(
                    header[0].decode(), header[1].decode(), out[pos : pos + size]
                )
                pos += size + 1
            else:  # "<name> missing" / "ambiguous"
                found[query] = None
        return found

    def read_files(self, items: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        """The bytes of each (rev, path), None when missing or not a file."""
        objects = self.batch([f"{rev}:{path}" for rev, path in items])
        result: dict[tuple[str, str], bytes | None] = {}
        for rev, path in items:
            obj = objects[f"{rev}:{path}"]
            result[(rev, path)] = obj.data if obj is not None and obj.type == "blob" else None
        return result

    def read_file(self, rev: str, path: str) -> bytes | None:
        return self.read_files([(rev, path)])[(rev, path)]

    def commit_info(self, commit: str) -> CommitInfo:
        out = self.run("log", "-1", "--format=%H%x00%an%x00%ae%x00%aI%x00%s", commit).stdout
        sha, author, email, date, subject = out.decode().rstrip("\n").split("\x00")
        return CommitInfo(sha, author, email, date, subject)

    def config(self, key: str) -> str | None:
        proc = self.run("config", "--get", key, check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def remote_url(self, remote: str) -> str | None:
        proc = self.run("remote", "get-url", remote, check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def verify_tag(self, name: str) -> tuple[bool, str]:
        """Check a tag's signature with `git verify-tag`; (ok, git's message)."""
        proc = self.run("verify-tag", name, check=False)
        return proc.returncode == 0, proc.stderr.decode(errors="replace").strip()

    def verify_tag_raw(
        self, name: str, signature: str, *, allowed_signers: Path | None = None
    ) -> TagVerification:
        """Check a tag's signature with `git verify-tag --raw`: who signed, with which key.

        Args:
            name: The tag.
            signature: The tag's signature block (from `read_tags`), which says SSH or GPG.
            allowed_signers: For SSH signatures, the allowed-signers file to check against
                (git's gpg.ssh.allowedSignersFile); default: the repository's git config.
        """
        config = (
            ()
            if allowed_signers is None
            else ("-c", f"gpg.ssh.allowedSignersFile={allowed_signers}")
        )
        proc = self.run(*config, "verify-tag", "--raw", name, check=False)
        text = (proc.stdout + proc.stderr).decode(errors="replace").strip()
        return _parse_verification(proc.returncode == 0, text, signature)

    def remote_tags(self, remote: str) -> dict[str, str]:
        """The remote's tags (`git ls-remote --tags --refs`): name -> object sha."""
        proc = self.run("ls-remote", "--tags", "--refs", remote, check=False)
        if proc.returncode != 0:
            raise GitmlError(
                f"Could not list the tags of remote '{remote}': "
                f"{proc.stderr.decode(errors='replace').strip()}",
                "Check the remote is reachable (git ls-remote), or pass --no-fetch.",
            )
        found: dict[str, str] = {}
        for line in proc.stdout.decode("utf-8", errors="replace").splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/tags/"):
                found[ref.removeprefix("refs/tags/")] = sha
        return found

    # ---- writing -------------------------------------------------------------------------

    def create_tag(self, name: str, commit: str, message: str, *, sign: bool = False) -> None:
        """Create an annotated (or signed) tag; the message is kept verbatim."""
        mode = "-s" if sign else "-a"
        proc = self.run(
            "tag",
            mode,
            "--cleanup=verbatim",
            "-F",
            "-",
            name,
            commit,
            input=message.encode("utf-8"),
            check=False,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            if sign:
                raise GitmlError(
                    f"Could not create the signed tag '{name}': {err}",
                    "Configure signing (git config user.signingkey, and gpg.format ssh for SSH "
                    "keys), or drop --sign.",
                )
            raise GitmlError(f"Could not create the tag '{name}': {err}", "Check `git tag`.")

    def delete_tag(self, name: str) -> None:
        self.run("tag", "-d", name, check=False)

    def fetch_tags(self, remote: str, names: Iterable[str]) -> None:
        """Fetch the named tags from `remote`, never forcing: an existing local tag is not moved."""
        refspecs = "".join(f"refs/tags/{n}:refs/tags/{n}\n" for n in names)
        if not refspecs:
            return
        proc = self.run(
            "fetch", "--quiet", "--no-tags", "--stdin", remote, input=refspecs.encode(), check=False
        )
        if proc.returncode != 0:
            raise GitmlError(
                f"Could not fetch tags from remote '{remote}': "
                f"{proc.stderr.decode(errors='replace').strip()}",
                "Check the remote is reachable (git fetch), or pass --no-fetch.",
            )

    def push_tags_atomic(self, remote: str, names: Iterable[str]) -> None:
        """Push tags with `git push --atomic`: all land or none. Raises on rejection."""
        refspecs = [f"refs/tags/{n}:refs/tags/{n}" for n in names]
        proc = self.run("push", "--atomic", "--porcelain", remote, *refspecs, check=False)
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode(errors="replace")
            raise PushRejected(out.strip())


class PushRejected(Exception):
    """The remote refused the push (for tags: usually because the tag already exists there)."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output

    @property
    def already_exists(self) -> bool:
        return "already exists" in self.output or "(stale info)" in self.output
