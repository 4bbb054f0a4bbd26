"""`fengqiao bench`: the hub measured next to a raw baseline taken in the same run (docs/performance.md).

One module per mode: `live` (throughput, latency, scale-out; the hub the others start), `cases` (N
cases in the store; `seed` writes a large folder with the hub's code), `replay`, `core` (the pure
core, no broker) and `store` (the measurement behind the case store's choice of SQLite). The workload
is the demo county's script (`fengqiao.scenario`); nothing here is imported by the hub or the tests'
fixtures.
"""
