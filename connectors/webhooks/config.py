"""The webhook sink's configuration: one endpoint per agency, retries, what to deliver."""

from __future__ import annotations

import os

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ..sdk import ConnectorConfig, ConnectorFailed
from .delivery import Policy
from .signature import signing_key

MIN_SECRET = 16  # bytes of key; the Standard Webhooks spec asks for 24 to 64, new_secret() makes 32
_MAKE_ONE = "(make one: python -m fengqiao.connectors.webhooks.signature)"


class Endpoint(BaseModel):
    """Where one agency receives its deliveries, and the secret its signatures are made with."""

    model_config = ConfigDict(extra="forbid")

    agency: str = Field(description="the agency's directory id (机构目录), e.g. qs-jo-1")
    url: str = Field(description="http(s) URL the events are POSTed to")
    secret: SecretStr | None = Field(
        default=None,
        description="the secret shared with the agency: whsec_<base64> (or, from before Standard "
        "Webhooks, any text of 16+ characters, keyed by its UTF-8 bytes)",
    )
    secret_env: str | None = Field(default=None, description="name of an environment variable holding it")
    previous_secret: SecretStr | None = Field(
        default=None,
        description="while rotating: the secret being replaced; requests carry a signature with each",
    )
    previous_secret_env: str | None = Field(
        default=None, description="name of an environment variable holding the previous secret"
    )
    legacy_signature: bool = Field(
        default=False,
        description="also send the old Fengqiao-Signature header, until the agency's receiver checks "
        "the Standard Webhooks ones (a migration aid: drop it then)",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        try:
            url = httpx.URL(v)
        except httpx.InvalidURL as e:
            raise ValueError(f"not a URL: {e}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL with a host")
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> Endpoint:
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError(f"endpoint {self.agency}: give exactly one of secret or secret_env")
        if self.previous_secret is not None and self.previous_secret_env is not None:
            raise ValueError(
                f"endpoint {self.agency}: give at most one of previous_secret or previous_secret_env"
            )
        return self

    def signing_keys(self) -> tuple[bytes, ...]:
        """The HMAC keys, current first (then the previous one, while rotating); `ConnectorFailed`
        naming what to fix if a secret is missing, malformed or too short."""
        keys = [self._key(self.secret, self.secret_env, "secret")]
        if self.previous_secret is not None or self.previous_secret_env is not None:
            keys.append(self._key(self.previous_secret, self.previous_secret_env, "previous_secret"))
        return tuple(keys)

    def _key(self, inline: SecretStr | None, env: str | None, name: str) -> bytes:
        if inline is not None:
            value, where = inline.get_secret_value(), name
        else:
            assert env is not None
            value, where = os.environ.get(env, ""), f"environment variable {env}"
            if not value:
                raise ConnectorFailed(f"endpoint {self.agency}: {where} is not set")
        try:
            key = signing_key(value)
        except ValueError as e:
            raise ConnectorFailed(f"endpoint {self.agency}: the {where}: {e} {_MAKE_ONE}") from None
        if len(key) < MIN_SECRET:
            raise ConnectorFailed(
                f"endpoint {self.agency}: the {where} is a key of {len(key)} bytes; "
                f"use at least {MIN_SECRET} {_MAKE_ONE}"
            )
        return key


class Config(ConnectorConfig):
    endpoints: list[Endpoint] = Field(default_factory=list, description="one per agency")
    max_attempts: int = Field(default=8, ge=1, le=100, description="POSTs per delivery before giving up")
    backoff_initial_s: float = Field(default=1.0, gt=0, description="ceiling of the first retry delay")
    backoff_max_s: float = Field(default=60.0, gt=0, description="largest retry delay")
    timeout_s: float = Field(default=10.0, gt=0, description="how long to wait for an answer")
    retry_after_max_s: float = Field(default=300.0, gt=0, description="cap on a receiver's Retry-After")
    case_updates: bool = Field(default=True, description="deliver CaseUpdated to the case's parties")

    @field_validator("endpoints")
    @classmethod
    def _one_per_agency(cls, v: list[Endpoint]) -> list[Endpoint]:
        seen: set[str] = set()
        for e in v:
            if e.agency in seen:
                raise ValueError(f"agency {e.agency} has two endpoints; give one")
            seen.add(e.agency)
        return v

    def policy(self) -> Policy:
        return Policy(
            self.max_attempts,
            self.backoff_initial_s,
            self.backoff_max_s,
            self.timeout_s,
            self.retry_after_max_s,
        )
