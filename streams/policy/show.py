"""A policy as rows for people: ``fengqiao policy show``."""

from __future__ import annotations

from .model import Policy

SHOW_COLUMNS = (
    "id",
    "中文",
    "English",
    "clock",
    "length",
    "start",
    "on breach",
    "escalate to",
    "source",
    "confidence",
)


def show_rows(policy: Policy) -> list[dict[str, str]]:
    """One row per rule for ``fengqiao policy show``, keyed by `SHOW_COLUMNS`."""
    rows = []
    for r in policy.rules:
        clock = r.clock or "—"
        if r.clock == "before_event":
            clock = f"before_event ({r.before})"
        rows.append(
            dict(
                zip(
                    SHOW_COLUMNS,
                    (
                        r.id,
                        r.title_zh,
                        r.title_en,
                        clock,
                        r.length_text(),
                        r.start,
                        r.on_breach or "—",
                        ", ".join(map(str, r.escalate_to)) or "—",
                        r.source,
                        r.confidence,
                    ),
                    strict=True,
                )
            )
        )
    return rows
