"""SQL read models (SQL 读模型): the hub's cases, handoffs and events as tables agencies query.

`ReadModelSink` writes them live from the workflow topics; `rebuild` writes them again from the
ledger with the same writer; `kpi.release_kpis` reads the release KPIs back with SQL.
See docs/read-models.md.
"""

from .sink import ReadModelConfig, ReadModelSink

__all__ = ["ReadModelConfig", "ReadModelSink"]
