"""The HTTP gateway: agency systems publish CloudEvents over HTTP with a per-agency API key.

See docs/gateway.md for integrators; `connector.py` for how the hub runs it.
"""

from .connector import GatewayConfig, HttpGateway

__all__ = ["GatewayConfig", "HttpGateway"]
