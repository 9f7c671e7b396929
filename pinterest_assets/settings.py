"""One typed place for configuration.

Everything is read from the environment *when called* (never at import time), so tests and the
Dagster code location can change the environment and rebuild settings without reloading modules.
Defaults run the local stack under ``.local/`` on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TOPICS = {"pin": "pinterest.pin", "geo": "pinterest.geo", "user": "pinterest.user"}
ENTITIES = tuple(TOPICS)


def project_root() -> Path:
    """The checkout this package runs from (where Makefile and jars/ live)."""
    return Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Ports and endpoints of the stack. Every field is an environment variable ``PINTEREST_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PINTEREST_", extra="ignore")

    home: Path = Field(default_factory=lambda: project_root() / ".local",
                       description="where the local stack keeps data, logs and jars")
    jars_dir: Path | None = Field(default=None, description="default: <home>/jars")
    bind_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    pg_port: int = 5432
    s3_port: int = 9000
    api_port: int = 8000
    s3_bucket: str = "pinterest-lake"

    # Endpoint overrides: point the project at services it did not start.
    kafka_bootstrap: str | None = None
    pg_dsn: str | None = None
    lake_uri: str | None = None
    s3_endpoint: str | None = None
    api_url: str | None = None

    @property
    def jars(self) -> Path:
        return self.jars_dir or self.home / "jars"

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.bind_host}:{self.kafka_port}"

    @property
    def postgres_dsn(self) -> str:
        return self.pg_dsn or f"postgresql://postgres@{self.bind_host}:{self.pg_port}/pinterest"

    @property
    def dagster_pg_url(self) -> str:
        """Dagster's instance storage: the `dagster` database next to `pinterest`."""
        base = self.postgres_dsn.rsplit("/", 1)[0].split("://", 1)[1]
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for postgresql://
        return f"postgresql+psycopg2://{base}/dagster"

    @property
    def s3_endpoint_url(self) -> str | None:
        return self.s3_endpoint

    @property
    def lake(self) -> str:
        return self.lake_uri or (self.home / "lake").resolve().as_uri()

    @property
    def api_base_url(self) -> str:
        return self.api_url or f"http://{self.bind_host}:{self.api_port}"


def get_settings() -> Settings:
    """Settings from the current environment (a fresh read on every call)."""
    return Settings()


def aws_credentials() -> tuple[str | None, str | None]:
    return os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
