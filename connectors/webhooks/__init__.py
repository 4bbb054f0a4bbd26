"""Webhooks (推送): the sink that POSTs each agency what it must act on, signed as Standard Webhooks has
it. `sink` (the connector), `config` (endpoints, retries), `delivery` (one signed POST and its
retries), `signature`, `state` (what was delivered or failed), `redeliver`, and `harness` (a real
receiver for the conformance kit and the tests). docs/webhooks.md is the integrators' side."""
