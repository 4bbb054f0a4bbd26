"""The auditors' commands: `replay`, `audit verify|case|pubkey`, `deadletters list|show|replay`.

They read the ledger and the registry's store in the data folder directly, so they work with the
hub stopped (an auditor's copy of the folder is enough).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from fengqiao.cli.common import DataDir, LedgerOpt, cli_table, data_settings, open_codec, open_ledger
from fengqiao.cli.personal import ReasonOpt, RevealOpt
from fengqiao.console import err, fail, ledger_progress, out
from fengqiao.reporting.case import handoff_met, render_case
from fengqiao.settings import Settings

audit_app = typer.Typer(
    help="The tamper-evident ledger 审计: verify it, report a case.", no_args_is_help=True
)
dead_app = typer.Typer(
    help="Dead letters 死信: what the hub could not accept or apply.", no_args_is_help=True
)

PARALLEL_FROM = 50_000  # records from which `replay` splits the cases over two processes (forking costs)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    from fengqiao.schemas.codec import SHANGHAI

    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--until {text!r}: give an instant like 2026-11-01T12:00:00+08:00") from None
    return (t if t.tzinfo else t.replace(tzinfo=SHANGHAI)).astimezone(UTC)


def replay(
    until: Annotated[
        str | None, typer.Option(help="state as it was at this instant (Beijing time if no offset)")
    ] = None,
    case: Annotated[str | None, typer.Option("--case", help="only this case")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="every case's state as JSON")] = False,
    data_dir: DataDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Rebuild case state from the ledger with the workers' own fold: no second implementation."""
    from fengqiao.streams.replay import replay_ledger

    s = data_settings(data_dir, ledger)
    led, codec = open_ledger(s), open_codec(s)
    at = _instant(until)
    total = led.count(case_id=case, until=at)
    workers = min(2, os.cpu_count() or 1) if total >= PARALLEL_FROM else 1
    started = time.perf_counter()
    with ledger_progress("回放 replaying") as bar:
        task = bar.add_task("replay", total=total)
        cases = replay_ledger(
            led,
            codec,
            until=at,
            case_id=case,
            progress=lambda n: bar.update(task, completed=n),
            workers=workers,
        )
    elapsed = time.perf_counter() - started
    if case and case not in cases:
        raise fail(f"no case {case!r} in the ledger" + (f" before {until}" if until else ""), 1)
    if as_json:
        print(json.dumps(cases if not case else cases[case], ensure_ascii=False, indent=2))
        return
    if case:
        render_case(cases[case], out)
        return
    t = cli_table("replay", title=f"回放 replay{' at ' + until if until else ''}: {len(cases)} cases")
    for c in sorted(cases.values(), key=lambda c: c["case_id"]):
        missed = sum(handoff_met(h, at) == "missed" for h in c["handoffs"].values())
        t.add_row(
            c["case_id"],
            c["workflow"],
            c["status"],
            str(len(c["handoffs"])),
            str(missed),
            ", ".join(a["type"] for a in c["alerts"]) or "—",
        )
    out.print(t)
    err.print(f"{total} records in {elapsed:.2f}s ({total / elapsed if elapsed else 0:,.0f}/s)")


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[
        Path | None, typer.Option(help="the hub's public key (PEM) to check signatures with")
    ] = None,
    data_dir: DataDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Check every hash chain and signed checkpoint; name the first record altered, removed, inserted
    or reordered. Exit 0 when the ledger is intact, 1 when it is not."""
    s = data_settings(data_dir, ledger)
    led = open_ledger(s)
    from fengqiao.streams.crypto import SuiteKeyError

    key = public_key.read_bytes() if public_key else None
    try:
        with err.status("核验 verifying…"):
            report = led.verify(key)
    except SuiteKeyError as e:
        raise fail(f"{e} (`fengqiao audit pubkey` exports it from the hub's data folder)") from None
    (out if report.ok else err).print(str(report))
    problems = _read_log(s, led).verify()
    for p in problems:
        err.print(f"✗ 查阅记录 read log #{p.read_id}: {p.what}")
    if not problems:
        out.print("✓ 查阅记录完整 the personal-data read log is intact")
    raise typer.Exit(0 if report.ok and not problems else 1)


def _read_log(s: Settings, led: Any = None) -> Any:
    """The read log, hashed with the ledger's digest (SM3 under the 国密 suite, as the ledger records)."""
    from fengqiao.streams.personal.access import ReadLog

    led = led if led is not None else open_ledger(s)
    return ReadLog(s.ledger_url, led.suite.digest, led.suite.digest_size)


@audit_app.command("access")
def audit_access(
    person: Annotated[str | None, typer.Option(help="a person's resident ID number")] = None,
    person_id: Annotated[str | None, typer.Option(help="... or a person id")] = None,
    agency: Annotated[str | None, typer.Option(help="an agency id (机构代码)")] = None,
    case: Annotated[str | None, typer.Option(help="a case id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    data_dir: DataDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Who read whose personal data in clear, when, through which door (个人信息查阅记录)."""
    import json

    from fengqiao.schemas.codec import SHANGHAI
    from fengqiao.streams.personal.protection import index

    s = data_settings(data_dir, ledger)
    subject = None
    if person or person_id:
        subject = index(s).person(person, person_id)
    log = _read_log(s)
    reads = list(log.reads(person=subject, agency=agency, case_id=case))
    if as_json:
        for r in reads:
            out.print_json(
                json.dumps(
                    {
                        "id": r.id,
                        "at": r.at.isoformat(),
                        "agency": r.agency,
                        "key_id": r.key_id,
                        "entry": r.entry,
                        "case_id": r.case_id,
                        "persons": list(r.persons),
                        "fields": list(r.fields),
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = cli_table("personal_reads")
    for r in reads:
        table.add_row(
            f"{r.at.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}",
            r.agency,
            r.key_id or "-",
            r.entry,
            r.case_id or "-",
            ", ".join(r.fields),
        )
    out.print(table)
    problems = log.verify()
    if problems:
        err.print(f"✗ 查阅记录被改动 the read log is broken at #{problems[0].read_id}: {problems[0].what}")
        raise typer.Exit(1)
    err.print(f"{len(reads)} 条 reads; 记录链完整 the log's chain is intact")


@audit_app.command("pubkey")
def audit_pubkey(
    out_file: Annotated[Path | None, typer.Option("--out", help="write the PEM here")] = None,
    data_dir: DataDir = None,
) -> None:
    """Export the hub's public key (PEM) for auditors, who verify the ledger with it."""
    from fengqiao.streams.crypto import export_public_key, load_key

    s = data_settings(data_dir, None)
    if not s.key_file.exists():
        raise fail(f"no key in {s.data_dir}: the hub makes one on its first start")
    pem = export_public_key(load_key(s.key_file), out_file)
    if out_file:
        out.print(f"wrote {out_file}")
    else:
        print(pem.decode())


@audit_app.command("case")
def audit_case(
    case_id: str,
    fmt: Annotated[str, typer.Option("--format", help="html, csv or json")] = "html",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="file to write; default: standard output")
    ] = None,
    data_dir: DataDir = None,
    ledger: LedgerOpt = None,
    reveal: RevealOpt = False,
    reason: ReasonOpt = None,
) -> None:
    """A case's timeline for an auditor: every event, who published it, when it was recorded, every
    handoff with its deadline, rule, policy version and outcome. HTML is a page on its own, in Chinese.
    Personal fields masked unless --reveal --reason (logged in the read log as the operator's)."""
    from fengqiao.cli.personal import viewer
    from fengqiao.reporting.audit import render
    from fengqiao.schemas.codec import to_json
    from fengqiao.schemas.envelope import Envelope
    from fengqiao.streams.replay import ledger_records
    from fengqiao.streams.replay import replay as fold_all
    from fengqiao.streams.workflows import load_context

    if fmt not in ("html", "csv", "json"):
        raise fail("--format is html, csv or json")
    s = data_settings(data_dir, ledger)
    led, codec = open_ledger(s), open_codec(s)
    records = list(ledger_records(led, codec.catalogue, case_id=case_id))
    cases = fold_all(records, codec)
    if case_id not in cases:
        raise fail(f"no case {case_id!r} in the ledger", 1)
    rows = []
    for r in records:
        try:
            _, data = codec.decode(r.value)
            env = Envelope.from_headers(r.headers)
        except Exception:
            continue
        rows.append(
            {
                "event_id": env.id,
                "event_type": env.type,
                "source": env.source,
                "event_time": to_json(env.time),
                "recorded_at": to_json(r.recorded_at),
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "hash": (r.hash or b"").hex(),
                "causation_id": env.causationid,
                "data": to_json(data),
            }
        )
    agencies = {a.id: a.name for a in load_context(s.deployment).directory}
    view, protection = viewer(s, "cli:audit case", reveal, reason)
    try:  # one read (one read-log row) for the case and its events
        shown = view({"case": cases[case_id], "rows": rows}, case_id=case_id)
    finally:
        if protection is not None:
            protection.close()
    text = render(shown["case"], shown["rows"], fmt, agencies=agencies)
    if out_file:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {out_file}")
    else:
        sys.stdout.write(text)


@dead_app.command("list")
def dead_list(data_dir: DataDir = None, ledger: LedgerOpt = None) -> None:
    """Every dead-lettered record, with why it was refused."""
    from fengqiao.streams import topics

    s = data_settings(data_dir, ledger)
    led, codec = open_ledger(s), open_codec(s)
    t = cli_table("dead_letters")
    n = 0
    for r in led.read(topics=[topics.DEAD_LETTERS]):
        _, d = codec.decode(r.value)
        n += 1
        t.add_row(
            r.event_id or "?",
            str(d["failed_at"])[:19],
            f"{d['source_topic']}/{d['source_partition']}@{d['source_offset']}",
            d["error_kind"],
            d["reason"][:80],
        )
    out.print(t if n else "没有死信 no dead letters")


def _dead_letter(s: Settings, dead_id: str) -> tuple[Any, dict[str, Any]]:
    led, codec = open_ledger(s), open_codec(s)
    r = led.find_event(dead_id)
    if r is None:
        raise fail(f"no dead letter {dead_id!r} in the ledger (see `fengqiao deadletters list`)", 1)
    ev, d = codec.decode(r.value)
    if ev.name != "DeadLetter":
        raise fail(f"{dead_id} is a {ev.name}, not a dead letter")
    return r, d


@dead_app.command("show")
def dead_show(dead_id: str, data_dir: DataDir = None, ledger: LedgerOpt = None) -> None:
    """One dead letter: the reason, where it came from, and the original record."""
    s = data_settings(data_dir, ledger)
    _, d = _dead_letter(s, dead_id)
    value = d["original_value"] or b""
    out.print(f"[bold]{dead_id}[/]  {d['error_kind']}: {d['reason']}")
    out.print(
        f"from {d['source_topic']}/{d['source_partition']}@{d['source_offset']}, failed {d['failed_at']}"
    )
    out.print(f"key: {d['original_key']!r}")
    for k, v in d["original_headers"].items():
        out.print(f"header {k}: {v.decode('utf-8', 'replace')}")
    out.print(f"value ({len(value)} bytes): {value[:200].hex()}")


@dead_app.command("replay")
def dead_replay(
    dead_id: str,
    fixed: Annotated[
        Path | None, typer.Option("--fixed", help="a corrected CloudEvent (JSON) to publish instead")
    ] = None,
    data_dir: DataDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Publish a dead letter again — as it was (after the cause was fixed), or corrected with --fixed.
    The new record names the dead letter in its causationid, so the link to the original stays."""
    from fengqiao.connectors.cloudevents_json import Refused, parse
    from fengqiao.hub import HubError, connect
    from fengqiao.streams.ledger import Ledger
    from fengqiao.streams.publisher import Publisher

    s = data_settings(data_dir, ledger)
    _, d = _dead_letter(s, dead_id)

    async def go() -> str:
        ep, codec = await connect(s)
        led = Ledger(ep.ledger) if ep.ledger else None
        async with Publisher(ep.bootstrap, codec, led) as pub:
            if fixed is None:
                headers = [(k, v) for k, v in d["original_headers"].items() if k != "ce_causationid"]
                headers.append(("ce_causationid", dead_id.encode()))
                await pub.send_raw(d["source_topic"], d["original_value"], d["original_key"], headers)
                return "the original record"
            try:
                acc = parse(codec, fixed.read_text(encoding="utf-8"))
            except Refused as r:
                raise fail(f"{fixed}: {r}") from None
            await pub.publish(acc.envelope.with_(causationid=dead_id), acc.record)
            return f"event {acc.envelope.id}"

    try:
        what = asyncio.run(go())
    except HubError as e:
        raise fail(str(e)) from None
    out.print(f"republished {what} to {d['source_topic']}, linked to dead letter {dead_id}")
