"""Fixtures of the Postgres-side tests: the Postgres resource, private Kafka topics, a producer.

Every test uses its own topic (uuid name, created with KafkaAdminClient) and its own tables, so
tests of other parts of the project that share the session stack are never disturbed.
"""

from __future__ import annotations

import json
import uuid

import pytest


@pytest.fixture(scope="session")
def postgres(stack):
    from pinterest_assets.resources.postgres import PostgresResource

    return PostgresResource(dsn=stack.postgres_dsn)


@pytest.fixture(scope="session")
def new_topic(stack):
    """`new_topic(partitions=1)` -> the name of a freshly created, empty topic."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers, request_timeout_ms=20000)

    def create(partitions: int = 1, prefix: str = "test.pin") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=1)],
                            timeout_ms=30000)
        return name

    yield create
    admin.close()


@pytest.fixture(scope="session")
def produce(stack):
    """`produce(topic, records, partition=None)`: JSON-encode (dicts) or send as is (str), acks=all, flushed.

    Records are sent in order; with `partition` set they all go to that partition, so their
    offsets follow the list order; `partitions` / `timestamps` (epoch ms) set them per record.
    Returns the list of RecordMetadata.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", linger_ms=5)

    def send(topic: str, records: list, partition: int | None = None, timestamps: list[int] | None = None,
             partitions: list[int] | None = None):
        futures = []
        for i, record in enumerate(records):
            value = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
            futures.append(producer.send(
                topic, value=value.encode("utf-8"),
                partition=partitions[i] if partitions else partition,
                timestamp_ms=timestamps[i] if timestamps else None,
            ))
        producer.flush()
        return [f.get(timeout=30) for f in futures]

    yield send
    producer.close()


@pytest.fixture()
def query_pg(postgres):
    """`query_pg(sql, params=())` -> list of tuples."""

    def run(sql: str, params=()):
        with postgres.connect() as conn:
            return conn.execute(sql, params).fetchall()

    return run


def pin_record(index: int, unique_id: str | None = None, **fields) -> dict:
    """A raw pin as the emulator posts it (dirty fields on purpose), with overrides."""
    record = {
        "index": index,
        "unique_id": unique_id or str(uuid.uuid4()),
        "title": f"Pin\u00a0{index} ✨",
        "description": "No description available Story format",
        "poster_name": "Maya K.",
        "follower_count": "1.5k",
        "tag_list": "#travel, Beach ,travel",
        "is_image_or_video": "multi-video(story page format)",
        "image_src": "https://i.pinimg.com/originals/a.jpg",
        "downloaded": 1,
        "save_location": "Local save in /data/travel",
        "category": "travel",
    }
    record.update(fields)
    return record
