"""`fengqiao person`: erasing a person's personal data (个人信息删除) and rotating keys.

Erasure is crypto-shredding (docs/personal-data.md): the person's data keys, and the keys of the
cases about them, are destroyed; every sealed copy of their fields — ledger, topics, case store,
webhook outbox — then reads as erased, while the ledger's chains (over the sealed bytes) still
verify and replay still gives the same cases. A `PersonErased` record on each case's topic says
who erased, when and why, never the data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer

from fengqiao.cli.common import DataDir, run_coro, settings
from fengqiao.console import err, fail, out

person_app = typer.Typer(help="个人信息 personal data: erase a person, rotate keys", no_args_is_help=True)

BASES = {
    "retention-expired": "保存期限届满 the retention period ended",
    "purpose-achieved": "处理目的已实现 the purpose of processing was achieved",
    "court-decision": "司法机关决定 a court's or authority's decision",
    "unlawful-processing": "违法处理 processed unlawfully",
}


@person_app.command("erase")
def person_erase(
    id_number: Annotated[str, typer.Argument(help="the person's resident ID number (or --person-id)")],
    reason: Annotated[str, typer.Option(help="why, in words; never the person's data")],
    by: Annotated[str, typer.Option(help="who orders it: name and office (经办人)")],
    basis: Annotated[str, typer.Option(help=f"legal basis: {', '.join(BASES)}")],
    person_id: Annotated[bool, typer.Option("--person-id", help="the argument is a person id")] = False,
    include_open: Annotated[bool, typer.Option(help="erase although a case of the person is open")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    data_dir: DataDir = None,
) -> None:
    """Destroy a person's keys (crypto-shredding) and record the erasure on each of their cases."""
    if basis not in BASES:
        raise fail(f"未知删除依据 unknown --basis {basis!r}; one of: {', '.join(BASES)}")
    if not reason.strip() or not by.strip():
        raise fail("--reason and --by must say why and who (删除须载明理由与经办人)")
    s = settings(data_dir=data_dir)
    if not s.protect_personal:
        raise fail("this hub does not seal personal data (protect_personal is off): nothing to shred")
    run_coro(_erase(s, id_number.strip(), person_id, reason, by, basis, include_open, yes))


async def _erase(
    s: Any, given: str, is_pid: bool, reason: str, by: str, basis: str, include_open: bool, yes: bool
) -> None:
    from fengqiao.endpoints import connect
    from fengqiao.schemas.envelope import Envelope
    from fengqiao.streams.ledger import Ledger
    from fengqiao.streams.publisher import Publisher

    ep, codec = await connect(s)
    keys = codec.sealer.keys
    subject = keys.index.person(None, given) if is_pid else keys.index.person(given, None)
    assert subject is not None
    subject = keys.resolve(subject)
    case_ids = keys.cases_of(subject)
    if not case_ids and not keys.has_keys(subject):
        raise fail("没有此人的个人信息 (no personal data was sealed for this person here)")
    cases = {cid: await _case(ep.workers, cid) for cid in case_ids}
    now = datetime.now(UTC)
    blocked = []
    for cid, case in cases.items():
        closed = (case or {}).get("closed_at")
        if case is not None and not closed and not include_open:
            blocked.append(f"{cid} 未结案 (open; --include-open to erase anyway)")
        elif closed and s.erasure_hold_days:
            until = datetime.fromisoformat(closed.replace("Z", "+00:00")) + timedelta(
                days=s.erasure_hold_days
            )
            if until > now:
                blocked.append(
                    f"{cid} 保存期至 {until:%Y-%m-%d} (kept {s.erasure_hold_days} days after closing)"
                )
    if blocked:
        raise fail("不能删除 cannot erase yet:\n  " + "\n  ".join(blocked))
    err.print(f"将删除此人在 {len(case_ids)} 个案件中的个人信息：{', '.join(case_ids) or '-'}")
    if not yes and not typer.confirm("确认删除？此操作不可撤销 (erase for ever?)"):
        raise typer.Exit(1)
    erasure = await asyncio.to_thread(keys.erase, subject)
    ledger = Ledger(ep.ledger) if ep.ledger else None
    try:
        async with Publisher(ep.bootstrap, codec, ledger) as pub:
            for cid in erasure.cases:
                env = Envelope.new("PersonErased", cid)
                record = {
                    "case_id": cid,
                    "person": subject,
                    "erased_by": by,
                    "basis": basis,
                    "reason": reason,
                    "keys_destroyed": erasure.keys,
                    "erased_at": now,
                }
                workflow = (cases.get(cid) or {}).get("workflow")
                await pub.publish(env, record, workflow)
    finally:
        if ledger is not None:
            ledger.close()
    out.print(
        f"✓ 已删除 erased: {erasure.keys} 把密钥已销毁 keys destroyed; "
        f"{len(erasure.cases)} 个案件已记录 PersonErased; 假名 pseudonym {subject}"
    )


async def _case(workers: list[str], case_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=10) as http:
        for url in workers:
            try:
                r = await http.get(f"{url}/cases/{case_id}/", follow_redirects=True)
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                return r.json()  # type: ignore[no-any-return]
            if r.status_code == 404:
                return None
    raise fail("no worker answered: is the hub running? (`fengqiao up`)")


@person_app.command("rotate-master")
def person_rotate_master(data_dir: DataDir = None) -> None:
    """A new master key; every data key is wrapped again under it, then the old master key is deleted."""
    from fengqiao.schemas.catalogue import load
    from fengqiao.streams.personal.protection import Protection

    s = settings(data_dir=data_dir)
    p = Protection.from_settings(s, load(), read_log=False)
    try:
        master = p.keys.master
        new = master.rotate()  # type: ignore[attr-defined]
        moved = p.keys.rewrap()
        gone = master.retire(new)  # type: ignore[attr-defined]
    finally:
        p.close()
    out.print(f"✓ 主密钥轮换 master key {new}: {moved} data keys re-wrapped; retired {gone or '-'}")


@person_app.command("rotate-key")
def person_rotate_key(
    id_number: Annotated[str, typer.Argument(help="the person's resident ID number (or --person-id)")],
    person_id: Annotated[bool, typer.Option("--person-id", help="the argument is a person id")] = False,
    data_dir: DataDir = None,
) -> None:
    """A new data key for one person: values sealed from now on use it; older ones keep theirs."""
    from fengqiao.schemas.catalogue import load
    from fengqiao.streams.personal.protection import Protection

    s = settings(data_dir=data_dir)
    p = Protection.from_settings(s, load(), read_log=False)
    try:
        idx = p.keys.index
        subject = p.keys.resolve(
            idx.person(None, id_number) if person_id else idx.person(id_number, None) or ""
        )
        if not p.keys.has_keys(subject):
            raise fail("没有此人的密钥 (no key was made for this person here)")
        version = p.keys.rotate(subject)
    finally:
        p.close()
    out.print(f"✓ 密钥轮换 data key rotated: version {version} for pseudonym {subject}")
