"""Case audit report (案件审计报告): one case's timeline, handoffs and alerts, for an auditor.

Pure rendering: `render(case, records, fmt)` takes the case state (as `engine.fold` builds it) and
the case's ledger records in log order, and returns the report as a string — no file, network or
clock access besides ``datetime.now`` when no ``generated_at`` is given.

A ledger record is a dict with ``event_id``, ``event_type``, ``source`` (the publishing agency's id,
or ``fengqiao-hub`` for the hub's decisions), ``event_time`` (when the agency says it happened),
``recorded_at`` (when the ledger stored it), ``topic``, ``partition``, ``offset``, ``hash`` (hex),
``causation_id`` and ``data`` (the decoded event, JSON form). Instants are shown in Beijing time;
a limit that runs out at midnight reads as 24:00 of its last day, as the law counts.

Formats:

* ``html``: one self-contained UTF-8 page (inline CSS, no scripts, prints on A4); every value is
  HTML-escaped, since case data comes from the agencies.
* ``csv``: starts with a BOM (U+FEFF) so Excel reads it as UTF-8; one header row (`CSV_COLUMNS`),
  then rows told apart by the ``kind`` column: one ``case`` row, one ``event`` row per ledger
  record in log order, one ``handoff`` row per handoff, one ``alert`` row per alert. The
  ``agency_id``/``agency_name`` columns hold the publisher of an event, the obliged agency of a
  handoff, the responsible agency of an alert. Times are Beijing time; hashes in full. A text cell
  starting with ``= + - @`` is prefixed with ``'`` so a spreadsheet does not run it as a formula.
* ``json``: the same content structured (`build`), with UTC instants next to the Beijing ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from .csv_json import CSV_COLUMNS, to_csv, to_json
from .html import to_html
from .model import REPORT_VERSION, _limit, build  # _limit: how a deadline reads, which tests check

__all__ = [
    "CSV_COLUMNS",
    "REPORT_VERSION",
    "Format",
    "_limit",
    "build",
    "render",
    "to_csv",
    "to_html",
    "to_json",
]

Format = Literal["html", "csv", "json"]


def render(
    case: dict[str, Any],
    records: list[dict[str, Any]],
    fmt: Format = "html",
    *,
    generated_at: datetime | None = None,
    agencies: Mapping[str, str] | None = None,
) -> str:
    """The case's audit report as HTML, CSV (with BOM) or JSON.

    ``generated_at`` (default: now) is printed and is the instant a handoff's deadline is judged
    against; ``agencies`` maps agency ids to names, beyond those the records themselves carry.
    """
    report = build(case, records, generated_at=generated_at, agencies=agencies)
    if fmt == "html":
        return to_html(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "json":
        return to_json(report)
    raise ValueError(f"format {fmt!r}: one of html, csv, json")
