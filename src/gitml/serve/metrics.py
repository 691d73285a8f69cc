"""The model server's Prometheus metrics, in a registry of the server's own."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServerMetrics:
    """Requests, errors, latency and micro-batch sizes, labelled by endpoint and model version."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._requests = Counter(
            "gitml_requests_total",
            "Scoring requests answered.",
            ["endpoint", "status", "model_version"],
            registry=self.registry,
        )
        self._errors = Counter(
            "gitml_request_errors_total",
            "Scoring requests answered with an error.",
            ["endpoint", "status", "model_version"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "gitml_request_latency_seconds",
            "Scoring latency from receipt to answer.",
            ["endpoint", "model_version"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self._batch_rows = Histogram(
            "gitml_batch_rows",
            "Rows per predict call (micro-batch size).",
            ["model_version"],
            registry=self.registry,
            buckets=BATCH_ROWS_BUCKETS,
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: the lookup takes a lock and builds a key per call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def scored(self, endpoint: str, version: str, seconds: float) -> None:
        """Count a request answered with scores and record its latency."""
        self._child(self._requests, endpoint, "200", version).inc()
        self._child(self._latency, endpoint, version).observe(seconds)

    def rejected(self, endpoint: str, status: int, version: str) -> None:
        """Count a request answered with an error status."""
        self._child(self._requests, endpoint, str(status), version).inc()
        self._child(self._errors, endpoint, str(status), version).inc()

    def batch(self, version: str, rows: int) -> None:
        """Record the rows of one predict call."""
        self._child(self._batch_rows, version).observe(rows)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
