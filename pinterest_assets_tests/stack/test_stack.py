"""The local stack: real Kafka, PostgreSQL and S3 servers, started and stopped by `pinterest stack`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from pinterest_assets import entities as registry
from pinterest_assets.settings import Settings
from pinterest_platform.stack import common, manager
from pinterest_platform.stack.s3 import client as s3_client

pytestmark = pytest.mark.integration


def produce(bootstrap: str, topic: str, key: str, value: dict) -> tuple[int, int]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                             key_serializer=str.encode, value_serializer=lambda v: json.dumps(v).encode())
    try:
        meta = producer.send(topic, key=key, value=value).get(timeout=30)
        return meta.partition, meta.offset
    finally:
        producer.close()


def read_one(bootstrap: str, topic: str, partition: int, offset: int) -> dict:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=15000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for message in consumer:
            return json.loads(message.value)
        raise AssertionError(f"no message at {topic}[{partition}]@{offset}")
    finally:
        consumer.close()


def test_topics_have_three_partitions(stack: Settings):
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    try:
        described = {t["topic"] if "topic" in t else t["name"]: len(t["partitions"])
                     for t in admin.describe_topics(list(registry.topics().values()))}
    finally:
        admin.close()
    assert described == {topic: 3 for topic in registry.topics().values()}


def test_kafka_round_trip(stack: Settings):
    record = {"unique_id": str(uuid.uuid4()), "title": "Ünïcode ✓ тест"}
    partition, offset = produce(stack.kafka_bootstrap_servers, "pinterest.pin", record["unique_id"], record)
    assert read_one(stack.kafka_bootstrap_servers, "pinterest.pin", partition, offset) == record


def test_postgres_round_trip(stack: Settings):
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as conn:
        conn.execute("create table if not exists roundtrip (id int primary key, title text)")
        conn.execute("insert into roundtrip values (1, 'café ☕') on conflict (id) do update set title = excluded.title")
        assert conn.execute("select title from roundtrip where id = 1").fetchone() == ("café ☕",)
        assert conn.execute("select current_database()").fetchone() == ("pinterest",)


def test_up_is_idempotent_and_status_reports_endpoints(stack: Settings):
    before = manager.status(stack)
    again = manager.up(stack, with_s3=True)
    for name in ("kafka", "postgres", "s3"):
        assert again["services"][name]["running"], name
        assert again["services"][name]["pid"] == before["services"][name]["pid"], name
    out = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "stack", "status", "--json"],
                         capture_output=True, text=True, check=True, env=os.environ.copy())
    info = json.loads(out.stdout)
    assert info["kafka_bootstrap"] == f"127.0.0.1:{stack.kafka_port}"
    assert info["postgres_dsn"].endswith(f":{stack.pg_port}/pinterest")
    assert info["s3_endpoint"] == f"http://127.0.0.1:{stack.s3_port}"
    assert info["lake_uri"].startswith("file://")
    assert set(info) >= {"kafka_bootstrap", "postgres_dsn", "lake_uri", "s3_endpoint", "api_url"}


def test_down_keeps_data_for_the_next_up(stack: Settings):
    marker = str(uuid.uuid4())
    partition, offset = produce(stack.kafka_bootstrap_servers, "pinterest.geo", marker, {"ind": marker})
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as conn:
        conn.execute("create table if not exists survivors (marker text primary key)")
        conn.execute("insert into survivors values (%s)", (marker,))
    manager.down(stack)
    for port in (stack.kafka_port, stack.pg_port, stack.s3_port):
        assert not common.port_open("127.0.0.1", port), f"port {port} still open after down"
    assert not any(svc["running"] for svc in manager.status(stack)["services"].values())

    manager.up(stack, with_s3=True)
    assert read_one(stack.kafka_bootstrap_servers, "pinterest.geo", partition, offset) == {"ind": marker}
    with psycopg.connect(stack.postgres_dsn) as conn:
        assert conn.execute("select count(*) from survivors where marker = %s", (marker,)).fetchone() == (1,)
    # the S3 server (moto) is in-memory: after a restart the bucket is there again, empty
    buckets = [b["Name"] for b in s3_client(stack).list_buckets()["Buckets"]]
    assert stack.s3_bucket in buckets


def test_port_taken_is_a_one_line_error(stack_env, tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = {**os.environ, "PINTEREST_HOME": str(tmp_path / "home"), "PINTEREST_PG_PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "stack", "up"],
                                capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "PINTEREST_PG_PORT" in result.stderr


def test_missing_jars_is_a_one_line_error(stack_env, tmp_path):
    env = {**os.environ, "PINTEREST_HOME": str(tmp_path / "home"),
           "PINTEREST_JARS_DIR": str(tmp_path / "nojars"),
           "PINTEREST_PG_PORT": str(_free()), "PINTEREST_KAFKA_PORT": str(_free()),
           "PINTEREST_KAFKA_CONTROLLER_PORT": str(_free())}
    result = subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "stack", "up"],
                            capture_output=True, text=True, env=env, timeout=180)
    subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "stack", "down"], env=env, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "make jars" in result.stderr and "nojars" in result.stderr


def _free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
