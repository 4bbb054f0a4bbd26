"""The CLI's personal-data options: masked by default, ``--reveal --reason`` shows in clear as the
operator (agency ``operator``), each such read in the read log with the reason (in its key field:
``reason: ...``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from fengqiao.console import fail

RevealOpt = Annotated[
    bool,
    typer.Option(
        "--reveal", help="显示个人信息明文（须 --reason，记入查阅记录） show personal fields in clear"
    ),
]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="查阅事由 why the operator reads them in clear")
]
OPERATOR = "operator"


def viewer(settings: Any, entry: str, reveal: bool, reason: str | None) -> tuple[Callable[..., Any], Any]:
    """(view(obj, case_id=...) -> what to print, the Protection to close or None)."""
    from fengqiao.streams.personal.reveal import Reader, Revealer

    if reveal and not (reason or "").strip():
        raise fail("--reveal 须注明事由 --reason (a reveal needs a reason; it goes in the read log)")
    protection = None
    revealer = Revealer(None)
    if getattr(settings, "protect_personal", False):
        from fengqiao.schemas.catalogue import load
        from fengqiao.streams.personal.protection import Protection

        protection = Protection.from_settings(settings, load(), read_log=reveal)
        revealer = protection.revealer
    reader = Reader(OPERATOR, entry, f"reason: {reason.strip()}" if reveal and reason else "")

    def view(obj: Any, case_id: str = "") -> Any:
        return revealer.reveal(obj, reader, clear=reveal, case_id=case_id)

    return view, protection
