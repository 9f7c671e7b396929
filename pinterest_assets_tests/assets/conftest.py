"""Fixtures of the lake-side asset tests: private Kafka topics, a producer, lakes, resources.

Every test gets its own topics (uuid names, created with KafkaAdminClient) and its own lake folder
(or S3 prefix), so nothing here sees another test's events — including other test modules that
share the session's Kafka.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from pinterest_assets import entities as registry


@pytest.fixture(scope="session")
def admin(stack):
    from kafka import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers, request_timeout_ms=20000)
    yield client
    client.close()


@pytest.fixture
def topics(admin) -> dict[str, str]:
    """entity -> a fresh 3-partition topic, e.g. {'pin': 'test.a1b2c3.pin', ...}."""
    from kafka.admin import NewTopic

    run = uuid.uuid4().hex[:10]
    names = {entity: f"test.{run}.{entity}" for entity in registry.names()}
    admin.create_topics([NewTopic(name=n, num_partitions=3, replication_factor=1) for n in names.values()],
                        timeout_ms=30000)
    return names


@pytest.fixture(scope="session")
def producer(stack):
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", linger_ms=5)
    yield prod
    prod.close()


@pytest.fixture
def produce(producer):
    """`produce(topic, records, key=None, timestamp_ms=None, partition=None)` -> [(partition, offset)].

    dicts are JSON-encoded, str sent as UTF-8, bytes as is; acks=all, flushed before returning.
    """

    def send(topic, records, key=None, timestamp_ms=None, partition=None):
        futures = []
        for record in records:
            if isinstance(record, dict):
                value = json.dumps(record, ensure_ascii=False).encode()
            elif isinstance(record, str):
                value = record.encode()
            else:
                value = record
            k = key(record) if callable(key) else key
            futures.append(producer.send(topic, value=value, key=k.encode() if k else None,
                                         timestamp_ms=timestamp_ms, partition=partition))
        producer.flush()
        return [(md.partition, md.offset) for md in (f.get(timeout=30) for f in futures)]

    return send


@pytest.fixture
def kafka(stack, topics):
    from pinterest_assets.resources.kafka import KafkaResource

    return KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics=topics)


@pytest.fixture
def file_lake(tmp_path):
    from pinterest_assets.resources.lake import LakeResource

    return LakeResource(uri=(tmp_path / "lake").as_uri())


@pytest.fixture
def s3_lake(stack):
    from pinterest_assets.resources.lake import LakeResource

    return LakeResource(uri=f"s3a://{stack.s3_bucket}/tests/{uuid.uuid4().hex[:12]}",
                        s3_endpoint_url=stack.s3_endpoint_url)


@pytest.fixture
def resources(spark, kafka, file_lake):
    """Resources for dg.materialize: the test topics, a file:// lake, the session's Spark."""
    return make_resources(kafka, file_lake)


def make_resources(kafka, lake) -> dict:
    from pinterest_assets.io_managers.lake import LakeTableIOManager
    from pinterest_assets.resources.spark_resource import SparkResource

    spark = SparkResource()
    return {"kafka": kafka, "lake": lake, "pyspark": spark,
            "lake_io_manager": LakeTableIOManager(lake=lake, pyspark=spark)}


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def day_ms(date: str, hour: int = 12) -> int:
    """Epoch milliseconds of `hour`:00 UTC on `date`."""
    return int(datetime.fromisoformat(date).replace(hour=hour, tzinfo=UTC).timestamp() * 1000)


def lake_lines(lake, folder: str) -> list[dict]:
    """Every JSON line of every landed file under `folder`."""
    out = []
    for relpath in lake.list_files(folder):
        out += [json.loads(line) for line in lake.read_text(relpath).splitlines() if line]
    return out


def accept_loss_then_land_again(raw_asset, kafka, lake, lost: int, landed: int) -> None:
    """`accept_loss: true` skips `lost` offsets knowingly (recorded in the metadata and the failed
    blocking check) and lands `landed` records; the next landing, without the flag, passes."""
    import dagster as dg

    resources = {"kafka": kafka, "lake": lake}
    config = {"ops": {raw_asset.key.path[-1]: {"config": {"accept_loss": True}}}}
    accepted = dg.materialize([raw_asset], resources=resources, run_config=config, raise_on_error=False)
    md = accepted.asset_materializations_for_node(raw_asset.key.path[-1])[0].metadata
    assert md["offsets_accepted_lost"].value == lost and md["records_landed"].value == landed
    [check] = accepted.get_asset_check_evaluations()
    assert not check.passed and check.metadata["offsets_skipped"].value == lost
    again = dg.materialize([raw_asset], resources=resources)
    assert again.success and again.get_asset_check_evaluations()[0].passed
