"""Nothing legitimate is refused: every agency event of the demo scenario, authorised against its
case as the engine has it at that moment (what a worker's /cases/ would show), is allowed — the
prison's releases into 青山县, the offices' acknowledgements of cases routed to them, the 一庭两所
joint mediation, the change of execution place to 白云县 and the other county's agency taking over."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fengqiao.connectors.authz import Authorizer
from fengqiao.connectors.cloudevents_json import parse
from fengqiao.scenario import BAIYUN_VILLAGE, demo_events
from fengqiao.schemas.codec import plain_codec, to_json
from fengqiao.streams import engine
from fengqiao.streams.workflows import load_context


async def test_every_event_of_the_demo_is_allowed_on_its_case_as_it_stands() -> None:
    codec, ctx = plain_codec(), load_context()
    cases: dict[str, Any] = {}

    async def lookup(case_id: str) -> dict[str, Any] | None:
        case = cases.get(case_id)
        return None if case is None else json.loads(json.dumps(to_json(case), default=str))

    opening = frozenset(e for wf in ctx.workflows.values() for e in wf.opened_by)
    auth = Authorizer(ctx.directory, codec.catalogue, lookup, opening)
    events = demo_events(3, now=datetime(2026, 11, 20, tzinfo=UTC))
    sources = set()
    for event in events:
        accepted = parse(codec, event)
        await auth.check(event["source"], accepted)  # raises Forbidden, naming the rule
        sources.add(event["source"])
        env = accepted.envelope
        cases[env.subject] = engine.handle(cases.get(env.subject), env, accepted.record, ctx, env.time).case
    assert {"zj-prison-2", "qs-jo-1", "qs-ps-1", "qs-tribunal-1", "qs-jb-corrections"} <= sources
    # The case handed to 白云县: its agency, obliged by the hub's hand-over, now acts on it.
    [moved] = [c for c in cases.values() if "ExecutionPlaceChanged" in c["facts"]]
    report = next(e for e in events if e["type"] == "CorrectionReported")
    report = {**report, "id": "by-1", "source": "by-jb-corrections", "subject": moved["case_id"]}
    report["data"] = {**report["data"], "case_id": moved["case_id"]}
    await auth.check("by-jb-corrections", parse(codec, {**report, "jurisdiction": BAIYUN_VILLAGE["code"]}))
