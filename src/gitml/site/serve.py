"""`gitml site serve`: build the site, serve it on 127.0.0.1, rebuild when the repository changes.

Deliberately simple: `http.server` in a thread, and a loop that polls the modification times of
the repository's HEAD, packed-refs and refs/ (commits, tags, experiments and the monitoring branch
all move a ref) and rebuilds when they change.
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from gitml.errors import GitmlError
from gitml.git import Git
from gitml.site.render import Built, build_site

log = logging.getLogger(__name__)


def git_dirs(root: Path) -> list[Path]:
    """The repository's git folder and, for a worktree, its common folder."""
    git = Git(root)
    git.ensure_repo()
    out = git.text("rev-parse", "--absolute-git-dir", "--git-common-dir").splitlines()
    return list(dict.fromkeys(Path(root, p).resolve() for p in out))


def fingerprint(dirs: list[Path]) -> tuple[int, int]:
    """(newest mtime in ns, number of files) over HEAD, packed-refs and refs/ of `dirs`."""
    newest, count = 0, 0
    for base in dirs:
        for name in ("HEAD", "packed-refs"):
            try:
                newest = max(newest, (base / name).stat().st_mtime_ns)
                count += 1
            except FileNotFoundError:
                pass
        for folder, subdirs, files in os.walk(base / "refs"):
            newest = max(newest, Path(folder).stat().st_mtime_ns)
            for file in files:
                try:
                    newest = max(newest, Path(folder, file).stat().st_mtime_ns)
                    count += 1
                except FileNotFoundError:
                    pass
            count += len(subdirs)
    return newest, count


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("serve: " + format, *args)


def start_server(out: Path, port: int) -> http.server.ThreadingHTTPServer:
    """Serve `out` on 127.0.0.1:`port` (0: any free port) in a daemon thread."""
    handler = functools.partial(_Quiet, directory=str(out))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise GitmlError(
            f"Cannot listen on 127.0.0.1:{port}: {error.strerror}.",
            "Pick another port with --port.",
        ) from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve(
    root: Path,
    out: Path,
    *,
    port: int = 8000,
    branch: str | None = None,
    poll_seconds: float = 1.0,
    stop: threading.Event | None = None,
    on_build: Callable[[Built], None] | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Build, serve and rebuild on change until `stop` is set (or Ctrl-C)."""
    stop = stop or threading.Event()
    dirs = git_dirs(root)
    seen = fingerprint(dirs)
    built = build_site(root, out, branch=branch)
    if on_build:
        on_build(built)
    server = start_server(built.out, port)
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    if on_ready:
        on_ready(url)
    try:
        while not stop.wait(poll_seconds):
            now = fingerprint(dirs)
            if now == seen:
                continue
            seen = now
            try:
                built = build_site(root, out, branch=branch)
            except GitmlError as error:  # keep serving the last good site
                log.warning("rebuild failed: %s", error)
                continue
            log.info("rebuilt %d pages", len(built.pages))
            if on_build:
                on_build(built)
    finally:
        server.shutdown()
        server.server_close()
