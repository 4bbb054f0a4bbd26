"""Case audit report (案件审计报告): see `model`."""

from .model import CSV_COLUMNS, REPORT_VERSION, _limit, build, render

__all__ = ["CSV_COLUMNS", "REPORT_VERSION", "_limit", "build", "render"]
