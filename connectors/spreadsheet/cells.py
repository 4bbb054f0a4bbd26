"""One cell → one JSON value of the event, or a reason in Chinese saying what to write instead.

Cells come typed from XLSX (openpyxl gives numbers, booleans and datetimes) and as text from CSV
(Chinese Excel writes dates as ``2026/11/8``). A real Excel date is taken as it is; text must be a
year-first date, any other text is refused naming the expected format — never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from typing import Any

from fengqiao.schemas.codec import SHANGHAI

from .columns import LIST_SEPARATORS, Column

TRUE = {"是", "y", "yes", "true", "t", "1", "√", "✓", "对", "有"}
FALSE = {"否", "n", "no", "false", "f", "0", "×", "✗", "不", "无"}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_MIDNIGHT = re.compile(r"\s+0{1,2}:00(:00)?$")
_INSTANT = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*[T\s]\s*"
    r"(\d{1,2})\s*[:：时点]\s*(\d{1,2})\s*(?:[:：分]\s*(\d{1,2})(?:\.(\d{1,6}))?\s*秒?)?\s*分?$"
)
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number: an 18-digit ID typed as one is lost


class CellError(ValueError):
    """The cell cannot be read as its column says; ``reason`` tells staff what to write."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def text(raw: Any) -> str:
    """The cell as text, without invisible characters and surrounding spaces ("" when empty)."""
    if raw is None:
        return ""
    return str(raw).translate(_INVISIBLE).replace("\u00a0", " ").strip()


def is_empty(raw: Any) -> bool:
    return text(raw) == ""


def shown(raw: Any) -> str:
    """The cell as staff typed it, for the rejects file."""
    if isinstance(raw, datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, float) and raw.is_integer():
        return f"{raw:.0f}"
    return text(raw)


def read(column: Column, raw: Any) -> Any:
    """The JSON value of a non-empty cell (dates and instants as ISO text). Raises `CellError`."""
    kind = column.kind
    if kind == "list":
        items = [i.strip() for i in LIST_SEPARATORS.split(_string(raw)) if i.strip()]
        return [_symbol(column, i) for i in items] if column.symbols else items
    if kind == "enum":
        return _symbol(column, text(raw))
    if kind == "date":
        return _date(raw)
    if kind == "instant":
        return _instant(raw)
    if kind == "boolean":
        return _boolean(raw)
    if kind in ("int", "long"):
        return _integer(raw)
    if kind in ("float", "double"):
        return _number(raw)
    value = _string(raw)
    if column.check in ("cn.ric", "division-code"):
        # Codes are often typed with full-width digits or spaces; the check digit X in either case.
        value = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()
    return value


def _string(raw: Any) -> str:
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, float):
        if raw.is_integer():
            if abs(raw) >= 10**EXCEL_DIGITS:
                raise CellError(_TOO_LONG)
            return f"{raw:.0f}"
        return repr(raw)
    if isinstance(raw, datetime):
        return raw.date().isoformat() if raw.time() == time() else raw.isoformat(sep=" ")
    if isinstance(raw, date):
        return raw.isoformat()
    value = text(raw)
    if _SCIENTIFIC.match(value):
        raise CellError(_TOO_LONG)
    return value


_TOO_LONG = (
    "数字位数过多，Excel 已把它改写为科学计数法、只保留15位（如身份证号码的后几位已丢失）："
    "请把该列单元格设为「文本」格式后重新输入"
)


def _symbol(column: Column, value: str) -> str:
    folded = value.casefold()
    for symbol, zh in column.symbol_labels or tuple((s, s) for s in column.symbols):
        if folded in (symbol.casefold(), zh.casefold()):
            return symbol
    names = "、".join(f"{zh}({s})" for s, zh in column.symbol_labels) or "、".join(column.symbols)
    raise CellError(f"「{value}」不是可选值；应为以下之一：{names}")


def _date(raw: Any) -> str:
    if isinstance(raw, datetime):
        if raw.time() != time():
            raise CellError("应为日期，不含时间，如 2026-11-08")
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    value = _MIDNIGHT.sub("", unicodedata.normalize("NFKC", text(raw)))
    m = _DATE.match(value)
    if not m:
        raise CellError(f"日期格式不正确：「{value}」；应为 年-月-日，如 2026-11-08（2026/11/8 也可）")
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        raise CellError(f"没有这一天：「{value}」；应为 年-月-日，如 2026-11-08") from None


def _instant(raw: Any) -> str:
    if isinstance(raw, datetime):
        t = raw
    elif isinstance(raw, date):
        raise CellError("请写明时间（北京时间），如 2026-11-08 09:30")
    else:
        value = unicodedata.normalize("NFKC", text(raw))
        t = _parse_instant(value)
    # A time without an offset is Beijing time, the agencies' own clock.
    return (t if t.tzinfo else t.replace(tzinfo=SHANGHAI)).isoformat()


def _parse_instant(value: str) -> datetime:
    m = _INSTANT.match(value)
    try:
        if m:
            micros = int((m[7] or "0").ljust(6, "0"))
            return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0), micros)
        if "T" in value or "+" in value or value.endswith("Z"):  # RFC 3339 from a system's export
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CellError(f"没有这个时间：「{value}」；应为北京时间，如 2026-11-08 09:30") from None
    if _DATE.match(value):
        raise CellError(f"「{value}」只有日期；请写明时间（北京时间），如 2026-11-08 09:30")
    raise CellError(f"时间格式不正确：「{value}」；应为北京时间 年-月-日 时:分，如 2026-11-08 09:30")


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = text(raw).casefold()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise CellError(f"「{text(raw)}」应填「是」或「否」")


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise CellError("应为整数")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    value = unicodedata.normalize("NFKC", text(raw)).replace(",", "")
    if re.fullmatch(r"[+-]?\d+(\.0+)?", value):
        return int(float(value)) if "." in value else int(value)
    raise CellError(f"「{text(raw)}」应为整数")


def _number(raw: Any) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    try:
        return float(unicodedata.normalize("NFKC", text(raw)).replace(",", ""))
    except ValueError:
        raise CellError(f"「{text(raw)}」应为数字") from None


def write(column: Column, value: Any, *, friendly: bool = False) -> Any:
    """A JSON value of the event as a cell: what the harness writes and the template's example shows.

    ``friendly`` writes enum names in Chinese and instants as Beijing wall time, as staff would.
    """
    if value is None:
        return ""
    if column.kind == "boolean" and isinstance(value, bool):
        return "是" if value else "否"
    if column.kind == "enum" and friendly:
        return column.zh(str(value))
    if column.kind == "list" and isinstance(value, list):
        return "；".join(column.zh(str(v)) if friendly else str(v) for v in value)
    if column.kind == "instant" and friendly:
        t = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
        return t.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
