"""The registry's errors: what the store refuses (`StoreError`, each with Confluent's HTTP status and
``error_code``, which the HTTP API answers with) and what the client raises (`RegistryError`)."""

from __future__ import annotations


class StoreError(Exception):
    """A request the registry refuses; ``status`` and ``error_code`` are Confluent's."""

    status = 500
    error_code = 50001

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubjectNotFound(StoreError):
    status, error_code = 404, 40401


class VersionNotFound(StoreError):
    status, error_code = 404, 40402


class SchemaNotFound(StoreError):
    status, error_code = 404, 40403


class SubjectConfigNotFound(StoreError):
    status, error_code = 404, 40408


class InvalidSchema(StoreError):
    status, error_code = 422, 42201


class InvalidVersion(StoreError):
    status, error_code = 422, 42202


class InvalidCompatibilityLevel(StoreError):
    status, error_code = 422, 42203


class IncompatibleSchema(StoreError):
    status, error_code = 409, 409


class RegistryError(RuntimeError):
    """The registry refused a request (``error_code`` as it sent it) or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
