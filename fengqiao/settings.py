"""Settings: flags beat environment (`FENGQIAO_*`), which beats the defaults here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FENGQIAO_", extra="ignore")

    broker: str | None = Field(
        default=None,
        description="kafka://host:port[,host:port] of a real Kafka cluster; unset = the embedded broker",
    )
    registry: str | None = Field(
        default=None,
        description="URL of an external Confluent-compatible schema registry; unset = the hub's own",
    )
    data_dir: Path = Field(default=Path(".fengqiao"), description="where the hub keeps its files")
    app_id: str = "fengqiao-hub"
    partitions: int = Field(default=4, ge=1, description="partitions of each workflow topic")
    # Topic settings the hub creates its topics with (streams/topics.py); the defaults suit the one
    # embedded broker, infra/deployments/cluster/ sets them for three brokers (docs/deployment.md).
    replication: int = Field(default=1, ge=1, description="replication factor of every hub topic")
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of every hub topic; unset = the broker's default",
    )
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, description="retention set on every hub topic")
    # Faust tuning; the embedded broker makes a group join wait about half the session timeout.
    session_timeout_s: float = 2.0
    heartbeat_s: float = 0.3
    rebalance_timeout_s: float = 4.0
    fetch_wait_ms: int = Field(
        default=10, description="consumer fetch wait; Faust's built-in 1,500 ms is too slow"
    )
    log_level: str = "INFO"
    deployment: Path | None = Field(
        default=None,
        description="folder with agencies.yaml, policies/, calendar-overrides.yaml; unset = demo county",
    )
    clock: str = Field(default="system", description="'system', or 'file:/path' for tests that move time")
    tick_s: float = Field(default=1.0, gt=0, description="how often the timer looks for passed deadlines")
    case_cache: int = Field(
        default=10_000,
        ge=0,
        description="unchanged cases a worker keeps in memory as objects; every case is in its store on disk",
    )

    ledger: str | None = Field(
        default=None, description="SQLAlchemy URL of the ledger; unset = SQLite in the data folder"
    )
    checkpoint_every: int = Field(default=1000, ge=1, description="sign the chain heads every N records")
    checkpoint_seconds: float = Field(default=60.0, gt=0, description="... or every T seconds")
    # The cryptographic suite of the deployment (docs/auditors.md "国密"): intl = SHA-256 chains, Ed25519
    # checkpoints, AES-256-GCM fields; gm = SM3 chains, SM2 checkpoints, SM4-GCM fields (GB/T 39786).
    # The ledger records its suite and refuses to be opened with the other one.
    crypto_suite: Literal["intl", "gm"] = Field(
        default="intl", description="intl (SHA-256/Ed25519/AES-GCM) or gm (国密 SM3/SM2/SM4)"
    )

    # The HTTP gateway agency systems publish through (docs/gateway.md); `fengqiao up` starts it.
    gateway: bool = Field(default=True, description="start the HTTP gateway with the hub")
    gateway_host: str = Field(default="127.0.0.1", description="address the gateway listens on")
    gateway_port: int = Field(default=8400, ge=0, le=65535, description="gateway port; 0 = any free port")
    gateway_rate: float = Field(default=50.0, gt=0, description="gateway requests per second per agency")
    gateway_burst: int = Field(default=200, ge=1, description="gateway requests an agency may send at once")
    gateway_max_body: int = Field(default=1 << 20, ge=1024, description="largest request body in bytes")
    gateway_auth_rate: float = Field(default=0.2, gt=0, description="failed API keys per second per address")
    gateway_auth_burst: int = Field(
        default=20, ge=1, description="failed API keys one address may try at once"
    )

    # Personal data (docs/personal-data.md): sealed at every intake, refused in clear by the workers.
    protect_personal: bool = Field(
        default=True, description="seal personal fields per person at intake; off only for benchmarks"
    )
    erasure_hold_days: int = Field(
        default=0,
        ge=0,
        description="days a case must have been closed before its persons may be erased (archive rules)",
    )
    personal_keys: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the personal data key store; unset = SQLite in the data folder",
    )

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> Settings:
        # Kafka would create such a topic, then refuse every acks=all write to it: refuse it at start.
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) exceeds replication ({self.replication})"
            )
        return self

    @property
    def ledger_url(self) -> str:
        return self.ledger or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def ledger_suite(self) -> str:
        """The ledger's `Suite` name for ``crypto_suite``: ``sha256-ed25519`` or ``sm3-sm2``."""
        from fengqiao.streams.crypto import CRYPTO_SUITES

        return CRYPTO_SUITES[self.crypto_suite][0]

    @property
    def field_cipher(self) -> str:
        """The personal-data field cipher for ``crypto_suite``: ``aes-256-gcm`` or ``sm4-gcm``."""
        from fengqiao.streams.crypto import CRYPTO_SUITES

        return CRYPTO_SUITES[self.crypto_suite][1]

    @property
    def key_file(self) -> Path:
        return self.data_dir / "ledger-key.pem"

    @property
    def personal_dir(self) -> Path:
        """Master keys and the index key of personal data (back it up apart from the data)."""
        return self.data_dir / "personal"

    @property
    def personal_keys_url(self) -> str:
        return self.personal_keys or f"sqlite:///{(self.personal_dir / 'keys.db').resolve()}"

    @property
    def embedded(self) -> bool:
        return not self.broker

    @property
    def runtime_file(self) -> Path:
        return self.data_dir / "runtime.json"
