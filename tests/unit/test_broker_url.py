from __future__ import annotations

import pytest

from fengqiao.infra.broker import BrokerError, parse_broker_url


@pytest.mark.parametrize(
    ("url", "bootstrap"),
    [
        ("kafka://k1:9092,k2:9093", "k1:9092,k2:9093"),
        ("kafka://k1", "k1:9092"),
        ("k1:19092", "k1:19092"),
        ("kafka://10.0.0.1:9092/", "10.0.0.1:9092"),
    ],
)
def test_broker_urls(url: str, bootstrap: str) -> None:
    assert parse_broker_url(url) == bootstrap


@pytest.mark.parametrize("url", ["http://k1:9092", "kafka://", "kafka://:9092"])
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(BrokerError):
        parse_broker_url(url)
