"""What a running model server holds: the served model, its settings and its machinery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitml.policy.serve import ServePolicy
from gitml.scoring import ContextSpec
from gitml.serve.batcher import MicroBatcher
from gitml.serve.bundle import ModelBundle
from gitml.serve.metrics import ServerMetrics
from gitml.serve.predlog import Hasher, PredictionLog


@dataclass
class ServerState:
    """The model being served (swapped atomically by a reload) and the server's machinery."""

    bundle: ModelBundle
    settings: ServePolicy
    log: PredictionLog | None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    ready: bool = False
    batcher: MicroBatcher | None = None
    #: Declared non-feature columns requests may carry (params.yaml's data.columns).
    context: ContextSpec = field(default_factory=ContextSpec)
    #: How PII values are logged with `serve.log.pii: hash` (None: dropped).
    pii_hash: Hasher | None = None
    #: Background rows for the model-agnostic explainer (from data/profile.json), or None.
    explain_background: Any = None
