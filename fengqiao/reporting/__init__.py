"""Reporting: what staff and auditors read, computed from case state and the ledger.

`kpi` (each workflow's KPIs over one engine), `audit` (a case's audit report as HTML, CSV, JSON),
`case` (a case's tables and its handoffs' verdicts), `demo_tables` (what `fengqiao demo` prints).
It reads `fengqiao.streams` (case state, the workflows) and never the other way round: the stream
code does not depend on how anything is rendered. Labels come from `fengqiao.schemas.labels`.
"""
