"""Postgres with TLS only (the stack's Postgres with PINTEREST_PG_TLS, a certificate made by openssl
at test time, an hba file rejecting TCP without TLS), reached with sslmode=verify-full by psycopg
(tables, the stream sink), Spark's JDBC reader, dbt and the Dagster instance."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from pinterest_assets_tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_postgres(stack):
    """A second local Postgres serving TLS only; yields its Settings."""
    from pinterest_assets.settings import Settings
    from pinterest_platform.stack import postgres

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="pinterest-tls-pg-")), pg_port=free_port(), pg_tls=True)
    postgres.start(settings)
    try:
        yield settings
    finally:
        postgres.stop(settings)


def test_clients_use_verify_full_and_plaintext_is_refused(tls_postgres, monkeypatch, tmp_path):
    dsn = tls_postgres.postgres_dsn
    ca = tls_postgres.home.resolve() / "tls" / "ca.pem"
    assert dsn.endswith(f"/pinterest?sslmode=verify-full&sslrootcert={ca}")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
    plain = dsn.split("?")[0] + "?sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plain).close()
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(other_ca), "-days", "1", "-subj", "/CN=other"], check=True, capture_output=True)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(dsn.replace(str(ca), str(other_ca))).close()

    # the Dagster instance (dagster-postgres, psycopg2) with the same TLS parameters
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: \"{tls_postgres.dagster_pg_url}\"\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert list(instance.get_runs(limit=1)) == []

    # dbt (analytics/profiles.yml reads libpq's variables, set from the DSN)
    from pinterest_assets.assets.analytics import DBT_PROJECT_DIR, dbt_environment, dbt_executable

    with dbt_environment(dsn):
        done = subprocess.run([dbt_executable(), "--no-use-colors", "debug", "--project-dir", str(DBT_PROJECT_DIR),
                               "--profiles-dir", str(DBT_PROJECT_DIR)], capture_output=True, text=True,
                              timeout=120)
    assert "Connection test: [OK connection ok]" in done.stdout and "sslmode: verify-full" in done.stdout, \
        done.stdout[-2000:]


def test_jdbc_and_the_stream_sink_over_tls(tls_postgres, spark, stack, new_topic, produce, tmp_path):
    from pinterest_assets.stream.config import PinStreamConfig
    from pinterest_assets.stream.postgres_sink import PinStreamSink
    from pinterest_assets.stream.query import start_pin_stream
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_assets_tests.serving.conftest import pin_record

    postgres = PostgresResource(dsn=tls_postgres.postgres_dsn)
    reader = spark.read.format("jdbc").option("url", postgres.jdbc_url()).option(
        "query", "SELECT ssl::int AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    for name, value in postgres.jdbc_properties().items():
        reader = reader.option(name, value)
    assert postgres.jdbc_properties()["sslmode"] == "verify-full"
    assert [row.ssl for row in reader.load().collect()] == [1]

    topic = new_topic()
    keys = [str(uuid.uuid4()) for _ in range(5)]
    produce(topic, [pin_record(i, k) for i, k in enumerate(keys)])
    table = f"pin_stream_tls_{uuid.uuid4().hex[:8]}"
    config = PinStreamConfig(topic=topic, table=table, checkpoint_dir=str(tmp_path / "checkpoint"),
                             bootstrap_servers=stack.kafka_bootstrap_servers)
    query, sink = start_pin_stream(spark, config, PinStreamSink(postgres, table=table), postgres=postgres,
                                   trigger={"availableNow": True}, lake=LakeResource(uri=(tmp_path / "lake").as_uri()))
    try:
        query.awaitTermination()
    finally:
        sink.close()
    with postgres.connect() as conn:
        assert conn.execute(f'SELECT count(*) FROM pinterest."{table}"').fetchone() == (len(keys),)
