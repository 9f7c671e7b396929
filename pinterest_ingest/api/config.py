"""The API's configuration: every PINTEREST_API_* variable, read and validated once at start.

A bad value raises :class:`ApiConfigError`, whose message is one line naming the variable, the
value and what is allowed; `pinterest api` prints it and exits with status 2 (no traceback).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from pinterest_assets.kafka_security import KafkaSecurity

MIB = 1024 * 1024
MAX_ACK_TIMEOUT = 3600.0
MAX_LINGER_MS = 60_000
_API_KEY = re.compile(r"[\x21-\x7e]+")  # visible ASCII: it travels in an HTTP header


class ApiConfigError(ValueError):
    """A configuration value is not allowed; the message is one line for the user."""


def _bad(variable: str, raw, allowed: str) -> ApiConfigError:
    return ApiConfigError(f"{variable}={raw!r} is not allowed: {allowed}")


def parse_seconds(variable: str, raw) -> float:
    """A timeout: a finite number of seconds > 0 (and at most an hour)."""
    allowed = f"expected a finite number of seconds > 0 and <= {MAX_ACK_TIMEOUT:g}, such as 5 or 0.5"
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise _bad(variable, raw, allowed) from None
    if not math.isfinite(value) or value <= 0 or value > MAX_ACK_TIMEOUT:
        raise _bad(variable, raw, allowed)
    return value


def parse_int(variable: str, raw, low: int, high: int, what: str) -> int:
    allowed = f"expected {what}: an integer from {low} to {high}"
    if isinstance(raw, bool):
        raise _bad(variable, raw, allowed)
    if isinstance(raw, str):
        text = raw.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,12}", text):
            raise _bad(variable, raw, allowed)
        value = int(text)
    elif isinstance(raw, int):
        value = raw
    else:
        raise _bad(variable, raw, allowed)
    if not low <= value <= high:
        raise _bad(variable, raw, allowed)
    return value


def parse_port(variable: str, raw) -> int:
    return parse_int(variable, raw, 1, 65535, "a TCP port")


def parse_api_key(variable: str, raw) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _API_KEY.fullmatch(raw):
        shown = "<a value with spaces or non-ASCII characters>" if isinstance(raw, str) else raw
        raise ApiConfigError(f"{variable}={shown!r} is not allowed: expected visible ASCII characters "
                             "without spaces (it is sent as `Authorization: Bearer <key>`), or unset")
    return raw


def parse_bootstrap(variable: str, raw: str) -> str:
    """host:port[,host:port...] with ports 1-65535."""
    allowed = "expected host:port[,host:port...] with ports from 1 to 65535"
    servers = [s.strip() for s in str(raw).split(",")]
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise _bad(variable, raw, allowed)
    return ",".join(servers)


@dataclass
class ApiConfig:
    """Everything the API reads from the environment, read once when the app is built."""

    bootstrap_servers: str = "127.0.0.1:9092"  # PINTEREST_KAFKA_BOOTSTRAP (or bind host + kafka port)
    ack_timeout: float = 5.0          # PINTEREST_API_ACK_TIMEOUT: seconds to wait for Kafka's ack
    api_key: str | None = None        # PINTEREST_API_KEY: when set, Bearer auth (POSTs, docs, readyz)
    linger_ms: int = 5                # PINTEREST_API_LINGER_MS
    port: int = 8000                  # PINTEREST_API_PORT (used by `pinterest api`)
    retry_after: int = 1              # seconds, in 503 responses
    max_body_bytes: int = MIB         # one record
    max_batch_body_bytes: int = 32 * MIB
    max_batch_records: int = 10_000
    max_depth: int = 32               # JSON nesting levels of one record
    max_pending: int = 200_000        # records awaiting acks before new ones get 503
    fast_path: bool = True            # serve the POSTs from plain ASGI (see IngestFastPath)
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)  # PINTEREST_KAFKA_SECURITY_* etc.

    def __post_init__(self):
        # the same bounds when built in code (tests, embedding) as from the environment
        self.ack_timeout = parse_seconds("PINTEREST_API_ACK_TIMEOUT", self.ack_timeout)
        self.api_key = parse_api_key("PINTEREST_API_KEY", self.api_key)
        self.linger_ms = parse_int("PINTEREST_API_LINGER_MS", self.linger_ms, 0, MAX_LINGER_MS,
                                   "milliseconds")
        self.port = parse_port("PINTEREST_API_PORT", self.port)
        self.bootstrap_servers = parse_bootstrap("PINTEREST_KAFKA_BOOTSTRAP", self.bootstrap_servers)
        if not 1 <= self.max_depth <= 512:
            raise ApiConfigError(f"max_depth={self.max_depth!r} is not allowed: expected 1 to 512")

    @classmethod
    def from_env(cls, environ=None, **overrides) -> ApiConfig:
        """Read and validate every PINTEREST_API_* variable (and the Kafka address).

        `overrides` (for example a command-line ``ack_timeout``) replace values after the
        environment was validated: a bad variable is reported even when a flag overrides it.
        """
        env = {k: v for k, v in (os.environ if environ is None else environ).items()
               if k.startswith("PINTEREST_") and v != ""}  # an empty variable counts as unset
        values: dict = {}
        if "PINTEREST_API_ACK_TIMEOUT" in env:
            values["ack_timeout"] = parse_seconds("PINTEREST_API_ACK_TIMEOUT", env["PINTEREST_API_ACK_TIMEOUT"])
        if "PINTEREST_API_LINGER_MS" in env:
            values["linger_ms"] = parse_int("PINTEREST_API_LINGER_MS", env["PINTEREST_API_LINGER_MS"],
                                            0, MAX_LINGER_MS, "milliseconds")
        if "PINTEREST_API_PORT" in env:
            values["port"] = parse_port("PINTEREST_API_PORT", env["PINTEREST_API_PORT"])
        values["api_key"] = parse_api_key("PINTEREST_API_KEY", env.get("PINTEREST_API_KEY"))
        if env.get("PINTEREST_KAFKA_BOOTSTRAP"):
            values["bootstrap_servers"] = parse_bootstrap("PINTEREST_KAFKA_BOOTSTRAP",
                                                          env["PINTEREST_KAFKA_BOOTSTRAP"])
            values["kafka_security"] = load_settings().kafka_security
        else:
            settings = load_settings()
            values["bootstrap_servers"], values["kafka_security"] = (settings.kafka_bootstrap_servers,
                                                                     settings.kafka_security)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def load_settings():
    """The project settings, with a pydantic error turned into one ApiConfigError line."""
    from pinterest_assets.settings import get_settings

    try:
        return get_settings()
    except ApiConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            name = "PINTEREST_" + "_".join(str(p) for p in first.get("loc", ())).upper()
            raise ApiConfigError(f"{name}={first.get('input')!r} is not allowed: {first.get('msg')}") from None
        raise ApiConfigError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
