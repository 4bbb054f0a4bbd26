"""The hub's own schema registry: the Confluent Schema Registry REST subset clients use, and a client.

DESIGN principle 2: values are Avro in the Confluent wire format, so any Kafka tool can read them.
With no external registry configured the hub serves this one in-process (``serve``); with one
configured, ``RegistryClient`` talks to it the same way. Ids are global and immutable, subjects
follow RecordNameStrategy (subject = the event's Avro full name), and the default compatibility
level is BACKWARD_TRANSITIVE: the newest schema must read every record ever written.

Layout, each module importing only those before it: `model` (the content type, the compatibility
levels, `SchemaVersion`), `errors` (Confluent's statuses and error codes; the client's error),
`store` (`RegistryStore`, SQLite), `app` (the FastAPI app), `server` (`serve`, `stop`), `client`
(`RegistryClient`). Every name other code imports is re-exported here.
"""

from .app import create_app
from .client import RegistryClient
from .errors import (
    IncompatibleSchema,
    InvalidCompatibilityLevel,
    InvalidSchema,
    InvalidVersion,
    RegistryError,
    SchemaNotFound,
    StoreError,
    SubjectConfigNotFound,
    SubjectNotFound,
    VersionNotFound,
)
from .model import COMPATIBILITY_LEVELS, CONTENT_TYPE, DEFAULT_COMPATIBILITY, SchemaVersion
from .server import RegistryServer, serve, stop
from .store import RegistryStore

__all__ = [
    "COMPATIBILITY_LEVELS",
    "CONTENT_TYPE",
    "DEFAULT_COMPATIBILITY",
    "IncompatibleSchema",
    "InvalidCompatibilityLevel",
    "InvalidSchema",
    "InvalidVersion",
    "RegistryClient",
    "RegistryError",
    "RegistryServer",
    "RegistryStore",
    "SchemaNotFound",
    "SchemaVersion",
    "StoreError",
    "SubjectConfigNotFound",
    "SubjectNotFound",
    "VersionNotFound",
    "create_app",
    "serve",
    "stop",
]
