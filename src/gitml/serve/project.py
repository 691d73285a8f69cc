"""What a server reads from its project besides the model: declared columns, PII key, background.

- the declared columns (`data.columns`, from the schema file params.yaml names; when the root has
  a params.yaml): the non-feature columns a request may carry (`gitml.scoring.ContextSpec`):
  logged as context, or, flagged PII, dropped or hashed.
- `serve.log.pii: hash`: the HMAC key from the environment (refuses to start without one).
- data/profile.json (when present): background rows for explaining a non-tree model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gitml.errors import GitmlError
from gitml.scoring import ContextSpec
from gitml.serve.predlog import pii_hasher
from gitml.serve.state import ServerState

log = logging.getLogger(__name__)


def declared_context(root: Path) -> ContextSpec:
    """The context spec from the columns `root`/params.yaml declares; empty without a params file."""
    path = root / "params.yaml"
    if not path.is_file():
        return ContextSpec()
    from gitml.config import load_params

    data = load_params(path).data
    return ContextSpec.from_columns(
        [{"name": c.name, "role": c.role, "pii": c.pii} for c in data.columns]
    )


def explain_background(root: Path, policy: Any, features: list[dict[str, Any]]) -> Any:
    """Background rows for the model-agnostic explainer from the training profile, or None."""
    path = root / policy.outputs.profile
    if not path.is_file():
        return None
    from gitml.explain import background_from_profile

    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        log.warning("%s is not valid JSON: no explanation background", path)
        return None
    return background_from_profile(profile, features)


def configure(state: ServerState, root: Path, policy: Any) -> None:
    """Give a server's state its context columns, PII hasher and explanation background.

    Raises GitmlError (exit 2) for `serve.log.pii: hash` without a key."""
    settings = policy.serve
    state.pii_hash = pii_hasher(settings.log.pii, settings.log.pii_key_env)
    try:
        state.context = declared_context(root)
    except GitmlError as exc:
        raise GitmlError(
            f"Cannot read the declared columns for serving: {exc.message}", exc.hint
        ) from None
    state.explain_background = explain_background(root, policy, state.bundle.signature.features)
