"""Kafka with TLS and SASL: a real broker from the stack code with a SASL_SSL listener, its CA and
certificate made by openssl at test time, a SCRAM-SHA-512 user made by kafka-configs and a PLAIN
user. The API posts, the raw landing lands and pin_stream streams through it; a wrong password,
an untrusted certificate and a plaintext client each fail in one line naming the cause."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import dagster as dg
import httpx
import pytest

from pinterest_assets_tests.conftest import free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "pinterest", "s3cr3t Pa$$ w0rd"


@pytest.fixture(scope="module")
def secure_kafka(stack):
    """A second local broker (plaintext + SASL_SSL listeners); yields the client environment."""
    from pinterest_assets.settings import Settings
    from pinterest_platform.stack import kafka

    home = Path(tempfile.mkdtemp(prefix="pinterest-secure-kafka-"))
    settings = Settings(home=home, jars_dir=stack.jars, kafka_port=free_port(), kafka_controller_port=free_port(),
                        kafka_secure_port=free_port(), kafka_sasl_username=USER, kafka_sasl_password=PASSWORD)
    kafka.start(settings)
    env = {
        "PINTEREST_KAFKA_BOOTSTRAP": f"127.0.0.1:{settings.kafka_secure_port}",
        "PINTEREST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PINTEREST_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PINTEREST_KAFKA_SASL_USERNAME": USER,
        "PINTEREST_KAFKA_SASL_PASSWORD": PASSWORD,
        "PINTEREST_KAFKA_SSL_CAFILE": str(home / "tls" / "ca.pem"),
    }
    try:
        yield env
    finally:
        kafka.stop(settings)


@pytest.fixture
def secure_env(secure_kafka, monkeypatch):
    for name, value in secure_kafka.items():
        monkeypatch.setenv(name, value)
    return secure_kafka


def failure_line(monkeypatch, **changes) -> str:
    from pinterest_assets.resources.kafka import KafkaResource, KafkaUnavailable

    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    kafka = KafkaResource.from_settings().model_copy(update={"operation_timeout_s": 20})
    with pytest.raises(KafkaUnavailable) as info:
        kafka.end_offsets()
    message = info.value.description
    assert "\n" not in message and "Traceback" not in message and PASSWORD not in message
    return message


def test_wrong_password_untrusted_certificate_and_plaintext_each_say_why(secure_env, monkeypatch):
    port = secure_env["PINTEREST_KAFKA_BOOTSTRAP"]
    assert "refused the SASL SCRAM-SHA-512 login of user 'pinterest'" in failure_line(
        monkeypatch, PINTEREST_KAFKA_SASL_PASSWORD="not-the-password")
    monkeypatch.setenv("PINTEREST_KAFKA_SASL_PASSWORD", PASSWORD)
    assert f"Kafka at {port}: untrusted certificate" in failure_line(monkeypatch, PINTEREST_KAFKA_SSL_CAFILE=None)
    monkeypatch.setenv("PINTEREST_KAFKA_SSL_CAFILE", secure_env["PINTEREST_KAFKA_SSL_CAFILE"])
    assert f"Kafka at {port} is a TLS listener and this client speaks plaintext" in failure_line(
        monkeypatch, PINTEREST_KAFKA_SECURITY_PROTOCOL="PLAINTEXT")


def test_post_land_and_stream_through_sasl_ssl(secure_env, spark, postgres, query_pg, tmp_path, monkeypatch):
    from pinterest_assets.assets.raw import build_raw_asset
    from pinterest_assets.stream.config import PinStreamConfig
    from pinterest_assets.stream.postgres_sink import PinStreamSink
    from pinterest_assets.stream.query import start_pin_stream
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets.settings import get_settings
    from pinterest_assets_tests.ingest.conftest import run_api
    from pinterest_assets_tests.serving.conftest import pin_record
    from pinterest_platform.stack import kafka as stack_kafka

    stack_kafka.ensure_topics(secure_env["PINTEREST_KAFKA_BOOTSTRAP"], security=get_settings().kafka_security)
    keys = [str(uuid.uuid4()) for _ in range(12)]
    # posted through a real API process whose producer logs in with PLAIN
    with run_api({**secure_env, "PINTEREST_KAFKA_SASL_MECHANISM": "PLAIN"}) as url:
        for i, key in enumerate(keys):
            response = httpx.post(f"{url}/pin/", json=pin_record(i, key), timeout=30)
            assert response.status_code == 202, response.text

    # landed by the raw asset (KafkaResource with the password as an EnvVar)
    kafka = KafkaResource.from_settings()
    assert isinstance(kafka.sasl_password, dg.EnvVar)
    lake = LakeResource(uri=(tmp_path / "lake").as_uri())
    result = dg.materialize([build_raw_asset("pin")], resources={"kafka": kafka, "lake": lake})
    assert result.success
    landed = sum(int(m.metadata["records_landed"].value) for m in result.asset_materializations_for_node("raw_pin"))
    assert landed == len(keys)

    # streamed by pin_stream's Spark Kafka source (kafka.-prefixed SASL_SSL options)
    table = f"pin_stream_secure_{uuid.uuid4().hex[:8]}"
    config = PinStreamConfig(table=table, checkpoint_dir=str(tmp_path / "checkpoint"))
    query, sink = start_pin_stream(spark, config, PinStreamSink(postgres, table=table), postgres=postgres,
                                   trigger={"availableNow": True}, lake=lake)
    try:
        query.awaitTermination()
    finally:
        sink.close()
    assert query_pg(f'SELECT count(*) FROM pinterest."{table}"') == [(len(keys),)]
    assert os.environ["PINTEREST_KAFKA_SASL_PASSWORD"] == PASSWORD
