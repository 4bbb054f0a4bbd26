"""What the fuzz tests share: the gateway in-process, valid seed events, their mutations, the oracle.

The gateway runs over the real Outbox (validation, authorisation, idempotency); only the last step,
the publisher that puts a record on the log, is a list (as in tests/unit/test_gateway_api.py), so a
few thousand requests take seconds. Examples per test: FENGQIAO_FUZZ_EXAMPLES (default below).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from fengqiao.connectors.gateway.api import Service, create_app
from fengqiao.connectors.gateway.idempotency import AnswerStore
from fengqiao.connectors.gateway.intake import Intake
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.limits import AuthThrottle, RateLimiter
from fengqiao.connectors.runtime import Outbox, Positions
from fengqiao.connectors.sdk import ErrorPolicy, Health
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.publisher import Published
from fengqiao.streams.workflows import load_context

CATALOGUE = load()
CODEC = Codec(CATALOGUE, {ev.fullname: n + 1 for n, ev in enumerate(CATALOGUE)})
CE = {"Content-Type": "application/cloudevents+json"}


def examples(default: int) -> settings:
    """Hypothesis settings: ``default`` examples in `make test`, FENGQIAO_FUZZ_EXAMPLES for more."""
    n = int(os.environ.get("FENGQIAO_FUZZ_EXAMPLES", default))
    return settings(
        max_examples=n,
        deadline=None,  # a loaded machine is slow, not wrong
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=os.environ.get("FENGQIAO_FUZZ_RANDOM") is None,  # the same cases every run, unless asked
        database=None,
    )


# -- the gateway ------------------------------------------------------------------------------------
@dataclass
class FakeHub:
    codec: Codec
    directory: Any
    ledger: Any = None
    workers: tuple[str, ...] = ()
    opening: frozenset[str] | None = None

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return None


class ListPublisher:
    def __init__(self) -> None:
        self.log: list[tuple[Any, Any]] = []

    async def publish(self, env: Any, record: Any) -> Published:
        env.to_headers()  # what the real publisher writes: an envelope that cannot be, fails here
        CODEC.encode(env.type, record)
        self.log.append((env, record))
        return Published(env.id, "fengqiao.fuzz", 0, len(self.log) - 1)


@dataclass
class Rig:
    http: TestClient
    keys: KeyStore
    publisher: ListPublisher
    service: Service
    _auth: dict[str, dict[str, str]]

    def auth(self, agency: str) -> dict[str, str]:
        if agency not in self._auth:
            self._auth[agency] = {"Authorization": f"Bearer {self.keys.add(agency)[1]}", **CE}
        return self._auth[agency]


@contextmanager
def gateway(tmp: Path) -> Iterator[Rig]:
    hub = FakeHub(CODEC, load_context().directory)
    outbox = Outbox("gateway", hub, ErrorPolicy(retries=0), Positions(tmp / "state"))  # type: ignore[arg-type]
    publisher = ListPublisher()
    outbox._publisher = publisher  # type: ignore[assignment]
    health = Health(status="running")
    keys = KeyStore(tmp / "keys.db")
    answers = AnswerStore(tmp / "answers.db")
    intake = Intake(outbox, answers, health, max_batch=20)
    # Limits out of the way: the fuzzing sends thousands of bad keys from one address (the failed-key
    # throttle has its own tests, test_gateway_auth_throttle.py).
    service = Service(  # type: ignore[arg-type]
        hub, intake, keys, RateLimiter(1e9, 10**9), 1 << 20, health, auth_throttle=AuthThrottle(1e9, 10**9)
    )
    with TestClient(create_app(service), raise_server_exceptions=False) as http:
        yield Rig(http, keys, publisher, service, {})
    keys.close()
    answers.close()
    asyncio.set_event_loop(None)


def seeds() -> list[dict[str, Any]]:
    """One demo event of each type that opens a case for its sender (the fake hub knows no case)."""
    out: dict[str, dict[str, Any]] = {}
    for e in demo_events(1):
        out.setdefault(e["type"], e)
    return list(out.values())


# -- mutations --------------------------------------------------------------------------------------
Path_ = tuple[str | int, ...]
_fresh = itertools.count()
STRICT_IDS = {("id",), ("subject",), ("correlationid",), ("causationid",), ("data", "case_id")}
CODES = {"jurisdiction", "code"}
PLAIN_TEXT = {"name", "phone", "notice_number", "note", "reason", "summary", "address", "remarks"}


def leaves(v: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from leaves(x, (*path, i))


def put(event: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    """A deep copy of ``event`` with ``value`` at ``path`` (a `_DELETE` value removes the key)."""
    import copy

    out = copy.deepcopy(event)
    node = out
    for p in path[:-1]:
        node = node[p]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DELETE = object()
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
CONTROLS = st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f"])
SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
BIDI = st.sampled_from(["\u202e", "\u2066", "\u202a"])


def kind_of(path: Path_) -> str:
    """What a string at ``path`` is: strict id, agency id, reference id, code, plain text, other."""
    last = path[-1] if path else ""
    if path in STRICT_IDS:
        return "id"
    if path == ("source",) or last == "agency_id":
        return "agency"
    if isinstance(last, str) and last.endswith("_id"):
        return "ref"
    if last in CODES:
        return "code"
    if last in PLAIN_TEXT or (len(path) > 1 and path[0] == "data" and isinstance(last, int)):
        return "text"
    return "other"  # an enum, a date, an instant, specversion, type: still no control characters


def insert(s: str, at: int, piece: str) -> str:
    at = min(at, len(s))
    return s[:at] + piece + s[at:]


@st.composite
def invalid_string(draw: st.DrawFn, path: Path_, value: str) -> Any:
    """A replacement for the string ``value`` at ``path`` that is never valid there."""
    kind = kind_of(path)
    at = draw(st.integers(0, max(len(value), 1)))
    options = [
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=False),
        st.booleans(),
        st.lists(st.text(max_size=3), min_size=1, max_size=3),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1, max_size=2),
        CONTROLS.map(lambda c: insert(value, at, c)),
        SURROGATES.map(lambda c: insert(value, at, c)),
        BIDI.map(lambda c: insert(value, at, c)),
        st.just(_nested(40)),
    ]
    if kind in ("id", "agency", "ref", "code"):
        options += [
            st.just(value + "\n"),
            st.just(value + "\x00"),
            st.sampled_from(["", " ", "\t", "\u3000", "\u200b", "\ufeff", " " + value, value + " "]),
            st.just(insert(value, at, "\u200b")),
            st.just(insert(value, at, "..")),
            st.just("x" * 300),
        ]
    if kind in ("id", "agency", "ref", "code") and value != value.translate(FULL_WIDTH):
        options += [st.just(value.translate(FULL_WIDTH)), st.just(value.translate(ARABIC_INDIC))]
    if kind in ("id", "agency", "code"):
        options += [st.just(insert(value, at, "/")), st.just("../" + value), st.just(value + "/..")]
    if kind == "agency" and value != value.upper():
        options.append(st.just(value.upper()))
    if kind == "code":
        options += [st.just(value + "0"), st.just(value[:-1]), st.just("a" + value[1:])]
    if kind == "text":
        options.append(st.just(value + "长" * 9000))
    if path == ("specversion",):
        options.append(st.sampled_from(["1", "1.00", "1.0 ", "0.3", "2.0", "１.０", "1.0\n"]))
    if path == ("type",):
        options.append(st.just(CATALOGUE[value].fullname))
    return draw(st.one_of(options))


def _nested(depth: int) -> Any:
    v: Any = "x"
    for _ in range(depth):
        v = [v]
    return v


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@dataclass(frozen=True)
class Case:
    event: Any
    must_refuse: bool  # the mutation makes it invalid whatever else holds
    what: str


@st.composite
def mutated(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> Case:
    """A valid seed (with a fresh id) changed at one place: surely invalid, or anything at all."""
    case = draw(_mutated(seeds))
    if (
        isinstance(case.event, dict)
        and isinstance(case.event.get("id"), str)
        and case.event["id"] in _SEED_IDS
    ):
        # A fresh id after drawing (drawing from it would make the draws differ run to run).
        case = dataclasses.replace(case, event={**case.event, "id": f"{case.event['id']}-fz{next(_fresh)}"})
    return case


_SEED_IDS = {e["id"] for e in demo_events(1)}


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> Case:
    seed = dict(draw(st.sampled_from(seeds)))
    spots = [(p, v) for p, v in leaves(seed) if p]
    path, value = draw(st.sampled_from(spots))
    how = draw(st.sampled_from(["invalid", "invalid", "invalid", "any", "delete", "extra"]))
    if how == "invalid" and isinstance(value, str):
        new = draw(invalid_string(path, value))
        return Case(put(seed, path, new), True, f"{path} = {new!r}"[:200])
    if how == "invalid" and isinstance(value, (bool, int, float)):
        new = draw(
            st.text(max_size=5) | st.lists(st.integers(), min_size=1, max_size=2) | st.just(_nested(40))
        )
        return Case(put(seed, path, new), True, f"{path} = {new!r}")
    if how == "delete" and isinstance(path[-1], str):
        required = path in {("id",), ("source",), ("type",), ("specversion",), ("data",)}
        return Case(put(seed, path, _DELETE), required, f"del {path}")
    if how == "extra" and isinstance(value, dict) and path[:1] == ("data",):
        key = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in value))
        return Case(put(seed, (*path, key), draw(JSON)), True, f"{path}.{key!r} added")
    new = draw(JSON)
    return Case(put(seed, path, new), False, f"{path} = {new!r}"[:200])


# Bodies that are not a CloudEvent at all: nesting past the limit, bytes, numbers JSON cannot hold.
DEEP = st.integers(33, 200_000)
BODIES = st.one_of(
    DEEP.map(lambda n: b"[" * n + b"]" * n),
    DEEP.map(lambda n: b"[" * n),
    DEEP.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    DEEP.map(lambda n: json.dumps({"specversion": "1.0", "data": {"x": "y"}})[:-1].encode() + b"[" * n),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"1" * 5000,
            b"[" + b"9" * 5000 + b"]",
            b'{"specversion": NaN}',
            b'{"specversion": Infinity}',
            b"[1e400]",
            b'"\\ud800"',
            b'{"id": "\\udfff", "source": "zj-prison-2"}',
            b"\xef\xbb\xbf{}",
            b"\xff\xfe{\x00}\x00",
            b"{}" * 100,
            b"null",
            b"[null]",
            b'{"__proto__": {}}',
            b'{"data": {}, "data": []}',
        ]
    ),
)


# -- the oracle -------------------------------------------------------------------------------------
def refused_with_reason(status: int, body: Any) -> None:
    """A refusal in the one error shape, naming a rule; an invalid event names each field."""
    assert 400 <= status < 500, status
    error = body["error"]
    assert error["status"] == status and error["rule"] and error["message"], body
    if error["rule"] in ("invalid-event", "invalid-json", "invalid-request"):
        assert error["fields"] and all(
            isinstance(f["field"], str) and f["reason"] for f in error["fields"]
        ), body
    for r in body.get("results", ()):
        if r["status"] != 202:
            assert r["error"]["rule"], r


def plausible(event: Any) -> bool:
    """An independent sketch of what a valid event looks like, for a 202: written without
    schemas/validation.py, so a wrongly accepted event shows even when that module is wrong."""
    if (
        not isinstance(event, dict)
        or event.get("specversion") != "1.0"
        or event.get("type") not in CATALOGUE.events
    ):
        return False
    for path, v in leaves(event):
        if not isinstance(v, str):
            continue
        if any(
            unicodedata.category(c) in ("Cs",) or (unicodedata.category(c) == "Cc" and c not in "\t\n\r")
            for c in v
        ):
            return False
        if len(path) >= 1 and (kind := kind_of(path)) in ("id", "agency", "ref", "code"):
            if not v or not v.isascii() or any(c.isspace() or not c.isprintable() for c in v) or ".." in v:
                return False
            if (kind != "ref" and "/" in v) or len(v) > (256 if kind == "ref" else 128):
                return False
            if kind == "code" and not (v.isdigit() and len(v) in (6, 9, 12)):
                return False
        elif path[:1] != ("data",) and any(c in v for c in "\t\n\r"):
            return False
    return True
