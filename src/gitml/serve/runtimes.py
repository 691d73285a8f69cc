"""The names of the scoring runtimes (`--runtime`), importable without loading a model stack.

`gitml.serve.compiled` finds, verifies and runs them; the CLI only needs their names and help,
and every `gitml` command imports the CLI.
"""

from __future__ import annotations

SKOPS = "skops"
ONNX = "onnx"
AUTO = "auto"
RUNTIMES = (AUTO, SKOPS, ONNX)
RUNTIME_HELP = (
    "skops (the scikit-learn model), onnx (the compile stage's model; refuse to start without "
    "a verified one) or auto (onnx when verified, else skops)."
)
