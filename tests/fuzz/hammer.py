"""Fire malformed requests at a RUNNING hub's gateway and count the answers (the by-hand acceptance
of issue 15; docs/gateway.md, "Trying it with bad input").

    .venv/bin/python tests/fuzz/hammer.py --key "$KEY" --agency zj-prison-2 \
        [--url http://127.0.0.1:8400] [-n 3000]

The same mutations as the fuzz tests (fuzz_rig.py): valid demo events changed at one place, and raw
bodies that are no CloudEvent. Only loopback addresses; the count and the time are bounded. Exit 1
if any answer is a 5xx, a refusal without a rule, or a 202 for an event a mutation made invalid.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_rig import BODIES, CE, Case, mutated, seeds


def loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8400", help="the gateway (a loopback address)")
    ap.add_argument("--key", required=True, help="an API key (fengqiao gateway keys add AGENCY)")
    ap.add_argument("--agency", required=True, help="the agency the key is for")
    ap.add_argument("-n", type=int, default=3000, help="how many requests (at most 20000)")
    ap.add_argument("--seconds", type=float, default=600, help="stop after this long")
    args = ap.parse_args(argv)
    if not loopback(args.url):
        print(f"{args.url}: only a hub on this machine (a loopback address) is hammered", file=sys.stderr)
        return 2
    n = max(1, min(args.n, 20_000))
    mine = [e for e in seeds() if e["source"] == args.agency] or seeds()
    auth = {"Authorization": f"Bearer {args.key}", **CE}
    counts: Counter[str] = Counter()
    problems: list[str] = []
    deadline = time.monotonic() + args.seconds
    http = httpx.Client(base_url=args.url, timeout=30.0)

    def judge(what: str, body: bytes, must_refuse: bool) -> None:
        try:
            r = http.post("/v1/events", content=body, headers=auth)
        except httpx.TransportError as e:  # counted, not raised: one slow answer does not end the run
            counts["no answer"] += 1
            problems.append(f"no answer ({type(e).__name__}) for {what}")
            return
        counts[str(r.status_code)] += 1
        if r.status_code >= 500:
            problems.append(f"{r.status_code} for {what}: {r.text[:200]}")
        elif r.status_code == 202 and must_refuse:
            problems.append(f"accepted although {what}")
        elif r.status_code >= 400:
            try:
                assert r.json()["error"]["rule"]
            except Exception:
                problems.append(f"{r.status_code} without a rule for {what}: {r.text[:200]}")

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: every request counts once
        suppress_health_check=list(HealthCheck),
    )
    @given(pick=st.integers(0, 9), case=mutated(mine), body=BODIES)
    def fire(pick: int, case: Case, body: bytes) -> None:
        if time.monotonic() > deadline:
            return
        if pick == 0:  # one in ten: a body that is not a CloudEvent at all
            judge(f"body {body[:60]!r}", body, True)
            return
        text = json.dumps(case.event, ensure_ascii=False).encode("utf-8", "surrogatepass")
        judge(case.what, text, case.must_refuse)

    started = time.monotonic()
    try:
        fire()
    finally:
        http.close()
    total = sum(counts.values())
    print(f"{total} requests in {time.monotonic() - started:.0f} s to {args.url}")
    for status, count in sorted(counts.items()):
        print(f"  {status}: {count}")
    for p in problems[:20]:
        print(f"PROBLEM {p}")
    print("no server error, nothing invalid accepted" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
