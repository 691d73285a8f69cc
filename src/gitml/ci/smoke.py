"""The smoke test of a running `gitml serve` (HTTP through urllib, to 127.0.0.1 in the workflows)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from gitml.ci.core import example_row
from gitml.errors import GitmlError


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
