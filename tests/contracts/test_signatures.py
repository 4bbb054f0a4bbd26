"""Every store implements its protocol's methods with the same parameters (names, kinds, defaults).

`isinstance` on a runtime-checkable protocol only sees that the methods exist; this also catches a
renamed or reordered parameter or a changed default, without a type checker in the test run.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from fengqiao.connectors.gateway.idempotency import AnswerStore
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.stores import ApiKeyStore, IdempotencyStore
from fengqiao.connectors.runtime import Positions
from fengqiao.connectors.stores import PositionStore
from fengqiao.schemas.registry import RegistryStore
from fengqiao.schemas.stores import SchemaStore
from fengqiao.streams.casestore import PartitionStore
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.stores import LedgerStore, PartitionCaseStore

IMPLEMENTATIONS: list[tuple[type, type]] = [
    (PositionStore, Positions),
    (ApiKeyStore, KeyStore),
    (IdempotencyStore, AnswerStore),
    (LedgerStore, Ledger),
    (PartitionCaseStore, PartitionStore),
    (SchemaStore, RegistryStore),
]


def members(protocol: type) -> list[str]:
    return [n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")]


def shape(f: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]


@pytest.mark.parametrize(("protocol", "impl"), IMPLEMENTATIONS, ids=lambda x: x.__name__)
def test_the_implementation_has_the_protocols_signatures(protocol: type, impl: type) -> None:
    names = members(protocol)
    assert names, f"{protocol.__name__} declares no methods"
    for name in names:
        assert hasattr(impl, name), f"{impl.__name__} lacks {name}"
        assert shape(getattr(impl, name)) == shape(getattr(protocol, name)), f"{impl.__name__}.{name}"
