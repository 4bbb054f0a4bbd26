"""The cluster deployment's files (infra/deployments/cluster/) say what the hub will really do.

No container engine runs here, so the compose file is never started by these tests: they check what
can be checked without one — the files parse, the services are there, every FENGQIAO_* variable the
hub's services get is a real `Settings` field with the value meant, and the topics the hub would
create with that environment have the production settings the brokers and the doc promise.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fengqiao.connectors.readmodel.sink import ReadModelConfig
from fengqiao.schemas.catalogue import load
from fengqiao.settings import Settings
from fengqiao.streams.topics import all_topics

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "infra" / "deployments" / "cluster"
HUB_SERVICES = ("hub", "worker", "readmodel")
FOURTEEN_DAYS_MS = 14 * 24 * 3600 * 1000


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((CLUSTER / "compose.yaml").read_text(encoding="utf-8"))


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR:?message} with the .env.example values."""
    example = dict(
        line.split("=", 1)
        for line in (CLUSTER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )

    def sub(m: re.Match[str]) -> str:
        name, op, rest = m.group(1), m.group(2), m.group(3)
        return example.get(name) or (rest if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", sub, value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: _interpolate(str(v)) for k, v in service["environment"].items()}


def _settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for k in [k for k in os.environ if k.startswith("FENGQIAO_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Settings()


def test_the_compose_file_names_every_part_of_the_cluster(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"kafka-1", "kafka-2", "kafka-3", "schema-registry", "postgres", *HUB_SERVICES}
    for n in (1, 2, 3):
        kafka = services[f"kafka-{n}"]
        assert kafka["image"].startswith("apache/kafka:")
        env = kafka["environment"]
        assert env["KAFKA_NODE_ID"] == str(n)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft: no ZooKeeper"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://kafka-{n}:9092"
        assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16, "a KRaft cluster id is a UUID"
        assert kafka["volumes"] == [f"kafka-{n}:/var/lib/kafka/data"], "each broker keeps its own log"
    assert services["schema-registry"]["image"].startswith("confluentinc/cp-schema-registry:")
    assert services["postgres"]["image"].startswith("postgres:")
    for name in HUB_SERVICES:
        build = services[name]["build"]
        assert (CLUSTER / build["context"] / build["dockerfile"]).resolve() == CLUSTER / "Dockerfile"
    assert services["hub"]["command"][0] == "up" and services["worker"]["command"][0] == "worker"
    assert "deploy" not in services["hub"], "one hub: it runs the one archiver"


def test_the_hub_services_environment_is_real_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {f"FENGQIAO_{name.upper()}" for name in Settings.model_fields}
    for name in HUB_SERVICES:
        env = _env(compose["services"][name])
        unknown = {k for k in env if k.startswith("FENGQIAO_")} - fields
        assert not unknown, f"{name}: no such setting {sorted(unknown)} (Settings ignores unknown names)"
        s = _settings(env, monkeypatch)
        assert s.broker == "kafka://kafka-1:9092,kafka-2:9092,kafka-3:9092" and not s.embedded
        assert s.registry == "http://schema-registry:8081"
        assert s.ledger_url.startswith("postgresql+psycopg://fengqiao@postgres:5432/")
        assert "PGPASSWORD" in env, "the ledger URL carries no password: psycopg reads PGPASSWORD"
        assert s.data_dir == Path("/var/lib/fengqiao") and s.deployment == Path("/etc/fengqiao/deployment")
        assert (s.partitions, s.replication, s.min_insync_replicas) == (32, 3, 2)
        assert s.retention_ms == FOURTEEN_DAYS_MS
        assert s.session_timeout_s >= 6, "Kafka's group.min.session.timeout.ms is 6 s"
        assert s.heartbeat_s < s.session_timeout_s / 3
    hub = _settings(_env(compose["services"]["hub"]), monkeypatch)
    assert hub.gateway and hub.gateway_host == "0.0.0.0" and hub.gateway_port == 8400
    assert "8400:8400" in compose["services"]["hub"]["ports"]


def test_the_topics_the_hub_creates_there_have_the_production_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _settings(_env(compose["services"]["hub"]), monkeypatch)
    broker = compose["services"]["kafka-1"]["environment"]
    specs = all_topics(load(), s)
    assert {t.name for t in specs} >= {"fengqiao.release", "fengqiao.case-updates", "fengqiao.deadletter"}
    for spec in specs:
        topic = spec.new_topic()  # what ensure_topics sends to the brokers
        assert topic.num_partitions == 32
        assert topic.replication_factor == 3 == int(broker["KAFKA_DEFAULT_REPLICATION_FACTOR"])
        assert topic.topic_configs == {
            "retention.ms": str(FOURTEEN_DAYS_MS),
            "cleanup.policy": "delete",  # never compact: every record is a fact (docs/deployment.md)
            "min.insync.replicas": broker["KAFKA_MIN_INSYNC_REPLICAS"],
        }
    # a consumer group's offsets outlive no less than the records they point into
    assert int(broker["KAFKA_OFFSETS_RETENTION_MINUTES"]) * 60_000 >= FOURTEEN_DAYS_MS


def test_the_embedded_broker_still_gets_todays_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings({}, monkeypatch)
    for spec in all_topics(load(), s):
        assert spec.replication == 1
        assert spec.configs() == {"retention.ms": str(7 * 24 * 3600 * 1000), "cleanup.policy": "delete"}


def test_more_in_sync_replicas_than_copies_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds replication"):
        Settings(replication=1, min_insync_replicas=2)


def test_the_mounted_files_are_there_and_valid(compose: dict[str, Any]) -> None:
    hub = compose["services"]["hub"]
    deployment = _interpolate(hub["volumes"][0]).split(":")[0]
    assert (CLUSTER / deployment / "agencies.yaml").is_file(), "the default deployment folder (demo county)"
    mounts = compose["services"]["readmodel"]["volumes"]
    assert "./readmodel.yaml:/etc/fengqiao/readmodel.yaml:ro" in mounts
    cfg = ReadModelConfig.model_validate(yaml.safe_load((CLUSTER / "readmodel.yaml").read_text()))
    assert cfg.url == "postgresql+psycopg://fengqiao@postgres:5432/fengqiao" and cfg.schema_ == "readmodel"
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["fengqiao"]' in dockerfile and "FENGQIAO_DATA_DIR=/var/lib/fengqiao" in dockerfile
