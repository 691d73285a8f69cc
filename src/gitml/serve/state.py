"""What a running model server holds: the served model, its settings and its machinery."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitml.policy.serve import ServePolicy
from gitml.serve.batcher import MicroBatcher
from gitml.serve.bundle import ModelBundle
from gitml.serve.metrics import ServerMetrics
from gitml.serve.predlog import PredictionLog


@dataclass
class ServerState:
    """The model being served (swapped atomically by a reload) and the server's machinery."""

    bundle: ModelBundle
    settings: ServePolicy
    log: PredictionLog | None
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    ready: bool = False
    batcher: MicroBatcher | None = None
