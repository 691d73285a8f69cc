"""`gitml site`: a static web view of the registry, the experiments and production health.

Everything comes from Git alone (tags, the main branch, `refs/exps`, the `gitml/monitoring`
branch), read with a handful of batched git calls. Modules: `model` (pure records and the
transforms the pages need), `collect` (the reads, through `gitml.git`, the registry and the
report's adapter), `charts` (pure SVG), `render` (Jinja2 pages, static files, the atomic write),
`serve` (local preview) and `cli`. See docs/site.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitml.site.render import build_site

__all__ = ["build_site"]


def __getattr__(name: str) -> Any:
    """Import the API on first use, so `gitml --help` stays fast."""
    if name == "build_site":
        from gitml.site.render import build_site

        return build_site
    raise AttributeError(f"module 'gitml.site' has no attribute {name!r}")
