"""Secrets stay out of resource config, which the Dagster UI shows and every run stores."""

from __future__ import annotations


def defs_and_what_the_ui_shows():
    """The definitions built from the environment, and the repository snapshot the webserver serves
    over GraphQL (resource details, configured values)."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster_shared.serdes import serialize_value

    from pinterest_assets.definitions import build_defs

    defs = build_defs()
    return defs, serialize_value(RepositorySnap.from_def(defs.get_repository_def()))


def test_a_postgres_password_never_reaches_resource_config(monkeypatch):
    monkeypatch.delenv("PINTEREST_PG_PASSWORD", raising=False)
    monkeypatch.setenv("PINTEREST_PG_DSN", "postgresql://analyst:hunter2-s3cret@db.example:5432/pinterest")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-s3cret-key")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("PINTEREST_S3_ENDPOINT", "http://127.0.0.1:9")
    defs, shown = defs_and_what_the_ui_shows()
    assert "hunter2-s3cret" not in shown and "aws-s3cret-key" not in shown
    assert "PINTEREST_PG_PASSWORD" in shown  # the EnvVar's name, not its value
    postgres = defs.resources["postgres"]
    assert postgres.dsn == "postgresql://analyst@db.example:5432/pinterest"
    assert postgres.secret() == "hunter2-s3cret"
    assert postgres.jdbc_properties()["password"] == "hunter2-s3cret"


def test_the_kafka_sasl_password_never_reaches_resource_config(monkeypatch, tmp_path):
    monkeypatch.setenv("PINTEREST_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PINTEREST_KAFKA_SASL_USERNAME", "pipeline")
    monkeypatch.setenv("PINTEREST_KAFKA_SASL_PASSWORD", "kafka-s3cret-pw")
    monkeypatch.setenv("PINTEREST_KAFKA_BOOTSTRAP", "broker.example:9096")
    defs, shown = defs_and_what_the_ui_shows()
    assert "kafka-s3cret-pw" not in shown and "PINTEREST_KAFKA_SASL_PASSWORD" in shown
    kafka = defs.resources["kafka"]
    assert kafka.security.password == "kafka-s3cret-pw"
    assert "kafka-s3cret-pw" not in repr(kafka.security)
    assert 'password="kafka-s3cret-pw"' in kafka.spark_options()["kafka.sasl.jaas.config"]
