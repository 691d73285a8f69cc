"""GTO's name grammar for artifacts and stages (pure), shared by the policy and the registry.

Copied from GTO so both tools accept exactly the same names; `gitml.registry.grammar` builds the
tag grammar on it, and `gitml.policy` checks the configured stage names with it.
"""

from __future__ import annotations

import re

NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
NAME_RE = re.compile(f"^{NAME}$")
