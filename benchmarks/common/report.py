"""Wording the benchmarks' reports share."""

from __future__ import annotations


def verdict(ok: bool) -> str:
    """How a report states whether a target was reached."""
    return "met" if ok else "NOT met"
