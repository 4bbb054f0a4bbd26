"""Spreadsheet intake 表格导入: templates generated from the schemas, a folder source that reads them.

See docs/spreadsheets.md. `SpreadsheetSource` is the connector (entry point ``spreadsheet``);
`template.generate` writes the templates (``fengqiao templates``).
"""

from .source import FileReport, SpreadsheetConfig, SpreadsheetSource

__all__ = ["FileReport", "SpreadsheetConfig", "SpreadsheetSource"]
