"""One typed place for configuration.

Everything is read from the environment *when called* (never at import time), so tests and the
Dagster code location can change the environment and rebuild settings without reloading modules.
Defaults run the local stack under ``.local/`` on 127.0.0.1.

Every ``PINTEREST_*`` variable is validated here, once: a bad value raises :class:`SettingsError`
whose message is one line naming the variable, the value and what is allowed. The CLI turns it
into that line and exit code 2; the Dagster code location fails to load with it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PINTEREST_"
Port = Annotated[int, Field(ge=1, le=65535)]
# what the JVM (-Xmx) and Spark (spark.*.memory) both take: digits and a unit k, m, g or t
JVM_SIZE = r"^[1-9][0-9]*[kKmMgGtT]$"
JvmSize = Annotated[str, Field(pattern=JVM_SIZE)]
SPARK_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|(spark|k8s|mesos)://\S+|yarn")
LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")


class SettingsError(ValueError):
    """A PINTEREST_* variable holds a value that is not allowed (the message says which and why)."""


def describe_validation_error(exc: ValidationError, prefix: str = ENV_PREFIX, model=None) -> str:
    """One line per bad variable: ``PINTEREST_KAFKA_PORT='abc' is not allowed: an integer 1..65535``."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else "?"
        value = error.get("input")
        if field == "pg_dsn" and isinstance(value, str):
            from pinterest_assets.redaction import redact_dsn

            value = redact_dsn(value)
        allowed = _ALLOWED.get(field) or str(error.get("msg", "invalid")).removeprefix("Value error, ")
        name = field.upper() if field.upper() in _UNPREFIXED else f"{prefix}{field.upper()}"
        lines.append(f"{name}={value!r} is not allowed: {allowed}")
    return "; ".join(lines)

def project_root() -> Path:
    """The checkout this package runs from (where Makefile and jars/ live)."""
    return Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Ports and endpoints of the stack. Every field is an environment variable ``PINTEREST_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(default_factory=lambda: project_root() / ".local",
                       description="where the local stack keeps data, logs and jars")
    jars_dir: Path | None = Field(default=None, description="default: <home>/jars")
    bind_host: str = "127.0.0.1"
    kafka_port: Port = 9092
    kafka_controller_port: Port = 9093
    pg_port: Port = 5432
    s3_port: Port = 9000
    api_port: Port = 8000
    s3_bucket: str = Field(default="pinterest-lake", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

    # Endpoint overrides: point the project at services it did not start.
    kafka_bootstrap: str | None = None
    pg_dsn: str | None = None
    lake_uri: str | None = None
    iceberg_catalog: str = Field(default="lake", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                                 description="the lake's Iceberg catalog name (Spark SQL, pyiceberg)")
    s3_endpoint: str | None = None
    api_url: str | None = None

    # Kafka security: every client (API producer, KafkaResource, Spark source, stack tools) takes
    # its options from pinterest_assets.kafka_security.KafkaSecurity, built from these.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(default=None, description="PEM file of the CAs to trust "
                                          "(default: the system's; the local secured stack's <home>/tls/ca.pem)")
    kafka_ssl_check_hostname: bool = True
    # the local broker's SASL_SSL listener (`stack up --secure`); clients with a TLS/SASL protocol
    # and no PINTEREST_KAFKA_BOOTSTRAP connect to it
    kafka_secure_port: Port | None = None

    # the local stack's Postgres serves TLS only (PINTEREST_PG_TLS, `pinterest demo --secure`); its DSN then asks for
    # sslmode=verify-full against <home>/tls/ca.pem
    pg_tls: bool = False

    # Spark (resources/spark_session.py builds every session from these)
    spark_master: str = Field(default="local[*]", description="local[*], local[N] or a cluster master URL")
    spark_driver_memory: JvmSize = "4g"
    spark_driver_java_options: str = Field(default="", description="extra driver JVM flags")
    spark_shuffle_partitions: PositiveInt = 4
    spark_ui: bool = False
    spark_executor_memory: JvmSize = "2g"
    spark_executor_cores: PositiveInt = 1
    spark_cores_max: PositiveInt = 2
    spark_log_level: str = "WARN"
    # `stack up --cluster`'s Spark standalone master and workers
    spark_master_port: Port = 7077
    spark_master_ui_port: Port = 8090
    spark_worker_memory: JvmSize = "3g"
    java_home: Path | None = Field(default=None, validation_alias=AliasChoices("JAVA_HOME", "java_home"),
                                   description="the JDK Spark and Kafka run on (default: `java` on PATH)")

    @field_validator("spark_master")
    @classmethod
    def _spark_master(cls, value: str) -> str:
        if not SPARK_MASTER.fullmatch(value):
            raise ValueError("local[*], local[N] or a master URL spark://host:port, k8s://…, yarn")
        return value

    @field_validator("spark_driver_java_options")
    @classmethod
    def _jvm_flags(cls, value: str) -> str:
        if any(not flag.startswith("-") for flag in value.split()):
            raise ValueError("JVM flags, each starting with '-' (e.g. -Xms2g -XX:+AlwaysPreTouch)")
        return value

    @field_validator("spark_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"a log4j level: {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("java_home", mode="before")
    @classmethod
    def _java_home(cls, value):
        if value in (None, ""):
            return None
        java = Path(value) / "bin" / "java"
        if not java.is_file():
            raise ValueError(f"a JDK folder holding bin/java ({java} does not exist); "
                             "unset it to use `java` from PATH")
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError("host:port[,host:port...] with ports 1..65535")
        return value

    @field_validator("kafka_ssl_cafile")
    @classmethod
    def _cafile(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"a PEM file of CA certificates ({value} does not exist)")
        return value

    @field_validator("lake_uri")
    @classmethod
    def _lake_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file:///", "s3a://", "s3://")):
            raise ValueError("file:///absolute/folder or s3a://bucket/prefix")
        return value

    @field_validator("pg_dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("a libpq URI postgresql://user[:password]@host:port/database")
        return value

    @field_validator("s3_endpoint", "api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value

    @property
    def jars(self) -> Path:
        return self.jars_dir or self.home / "jars"

    @property
    def kafka_bootstrap_servers(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        if self.kafka_secure_port and self.kafka_security_protocol != "PLAINTEXT":
            return f"{self.bind_host}:{self.kafka_secure_port}"
        return f"{self.bind_host}:{self.kafka_port}"

    @property
    def kafka_security(self):
        """The Kafka client security options of these settings (one KafkaSecurity for every client)."""
        from pinterest_assets.kafka_security import KafkaSecurity

        return KafkaSecurity.from_settings(self)

    def problem(self) -> str | None:
        """What is missing across variables (one line), or None."""
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password):
            return (f"PINTEREST_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                    "PINTEREST_KAFKA_SASL_USERNAME and PINTEREST_KAFKA_SASL_PASSWORD")
        return None

    @property
    def local_pg_tls_query(self) -> str:
        """The libpq/JDBC parameters of the local TLS Postgres ('' without pg_tls)."""
        if not self.pg_tls:
            return ""
        return f"sslmode=verify-full&sslrootcert={self.home.resolve() / 'tls' / 'ca.pem'}"

    @property
    def postgres_dsn(self) -> str:
        if self.pg_dsn:
            return self.pg_dsn
        query = self.local_pg_tls_query
        return f"postgresql://postgres@{self.bind_host}:{self.pg_port}/pinterest" + (f"?{query}" if query else "")

    @property
    def dagster_pg_url(self) -> str:
        """Dagster's instance storage: the `dagster` database next to `pinterest` (same server,
        credentials and TLS parameters)."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.postgres_dsn)
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for postgresql://
        return urlunsplit(("postgresql+psycopg2", parts.netloc, "/dagster", parts.query, ""))

    @property
    def s3_endpoint_url(self) -> str | None:
        return self.s3_endpoint

    @property
    def lake(self) -> str:
        return self.lake_uri or (self.home / "lake").resolve().as_uri()

    @property
    def api_base_url(self) -> str:
        return self.api_url or f"http://{self.bind_host}:{self.api_port}"


_ALLOWED = {
    "kafka_port": "an integer 1..65535", "kafka_controller_port": "an integer 1..65535",
    "pg_port": "an integer 1..65535", "s3_port": "an integer 1..65535", "api_port": "an integer 1..65535",
    "s3_bucket": "an S3 bucket name (3-63 lower-case letters, digits, '.', '-')",
    "iceberg_catalog": "a catalog name: lower-case letters, digits and '_', not starting with a digit",
    "spark_master_port": "an integer 1..65535", "spark_master_ui_port": "an integer 1..65535",
    "spark_worker_memory": "a JVM size like 3g or 512m",
    "spark_driver_memory": "a JVM size like 4g or 512m", "spark_executor_memory": "a JVM size like 2g or 512m",
    "spark_shuffle_partitions": "a positive integer", "spark_executor_cores": "a positive integer",
    "spark_cores_max": "a positive integer", "spark_ui": "true or false",
    "kafka_security_protocol": "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN",
    "kafka_secure_port": "an integer 1..65535", "kafka_ssl_check_hostname": "true or false",
}
_UNPREFIXED = {"JAVA_HOME"}


def get_settings() -> Settings:
    """Settings from the current environment (a fresh read on every call); SettingsError if invalid."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    if problem := settings.problem():
        raise SettingsError(problem)
    return settings
