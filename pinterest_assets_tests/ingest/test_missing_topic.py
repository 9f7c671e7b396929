"""A missing topic takes down only its own endpoint, on a real broker of its own (so deleting
topics cannot disturb the session's shared one); and the producer neither leaks a KafkaProducer
per retry nor sends on a producer other than the one it captured."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from pinterest_assets.settings import Settings, project_root
from pinterest_assets_tests.conftest import connected_api_producer, free_port
from pinterest_assets_tests.ingest.conftest import TopicReader

pytestmark = pytest.mark.integration

PIN = {"index": 1, "unique_id": "5c2a3b4d-1e2f-4a5b-8c9d-0e1f2a3b4c5d", "title": "t"}


@pytest.fixture(scope="module")
def lone_broker(stack):
    """A second single-node Kafka with the pinterest topics, minus pinterest.geo."""
    from kafka import KafkaAdminClient

    from pinterest_platform.stack import kafka

    home = Path(tempfile.mkdtemp(prefix="pinterest-lone-kafka-"))
    settings = Settings(home=home, jars_dir=stack.jars, kafka_port=free_port(),
                        kafka_controller_port=free_port())
    info = kafka.start(settings, timeout=300)  # a JVM start on a loaded 2-core machine can take minutes
    admin = KafkaAdminClient(bootstrap_servers=info["bootstrap"], request_timeout_ms=10000)
    try:
        admin.delete_topics(["pinterest.geo"], timeout_ms=30000)
        deadline = time.monotonic() + 30
        while "pinterest.geo" in admin.list_topics():
            assert time.monotonic() < deadline, "pinterest.geo was not deleted"
            time.sleep(0.2)
        yield info["bootstrap"], admin
    finally:
        admin.close()
        kafka.stop(settings)
        shutil.rmtree(home, ignore_errors=True)


def _api_log(url) -> str:
    port = url.rsplit(":", 1)[1]
    return Path(os.environ["PINTEREST_HOME"], f"api-{port}.log").read_text()[-6000:]


def _post(url, path, record):
    started = time.monotonic()
    response = httpx.post(url + path, json=record, timeout=30)
    return response, time.monotonic() - started


def test_one_missing_topic_makes_only_its_endpoint_503_naming_it(lone_broker, start_api):
    from kafka.admin import NewTopic

    bootstrap, admin = lone_broker
    with start_api({"PINTEREST_KAFKA_BOOTSTRAP": bootstrap, "PINTEREST_API_ACK_TIMEOUT": "2"}) as url:
        reader = TopicReader(bootstrap)
        try:
            # the missing topic: 503 naming it, at once (no wait for an ack that cannot come)
            for _ in range(3):
                response, took = _post(url, "/geo/", {"ind": 7})
                assert response.status_code == 503, response.text
                body = response.json()
                assert body["error"] == "topic_missing" and "'pinterest.geo'" in body["detail"]
                assert response.headers["retry-after"].isdigit() and took < 1.5
            batch = httpx.post(url + "/geo/batch", json=[{"ind": 1}, {"ind": 2}], timeout=30)
            assert batch.status_code == 503 and batch.json()["error"] == "topic_missing"
            # the others keep working, and their records land
            for path, record in (("/pin/", PIN), ("/user/", {"ind": 7, "age": 30})):
                response, _ = _post(url, path, record)
                assert response.status_code == 202, response.text
                ack = response.json()
                assert json.loads(reader.at(ack["topic"], ack["partition"], ack["offset"]).value) == record
            ready = httpx.get(url + "/readyz").json()
            assert ready["status"] == "ready" and ready["missing_topics"] == ["pinterest.geo"]
            metrics = httpx.get(url + "/metrics").text
            assert 'pinterest_api_topic_available{topic="pinterest.geo"} 0.0' in metrics
            assert 'pinterest_api_topic_available{topic="pinterest.pin"} 1.0' in metrics
            assert 'reason="topic_missing",status="503",topic="pinterest.geo"' in metrics

            # the topic appears: its endpoint recovers without a restart
            admin.create_topics([NewTopic(name="pinterest.geo", num_partitions=3, replication_factor=1)],
                                timeout_ms=30000)
            deadline = time.monotonic() + 30
            while True:
                response, _ = _post(url, "/geo/", {"ind": 8})
                if response.status_code == 202:
                    break
                assert response.status_code == 503 and response.json()["error"] == "topic_missing", response.text
                assert time.monotonic() < deadline, "the geo endpoint did not recover after the topic was created"
                time.sleep(0.5)
            ack = response.json()
            assert json.loads(reader.at(ack["topic"], ack["partition"], ack["offset"]).value) == {"ind": 8}
            assert httpx.get(url + "/readyz").json()["missing_topics"] == []

            # A topic deleted under the running API. kafka-python's idempotent producer stalls once
            # batches for the vanished topic expire (it resets its producer id), so every endpoint may
            # answer 503 for a few seconds until the API replaces the producer; after that the
            # deleted topic's endpoint answers topic_missing at once and the others 202 again.
            # Batches sent to the topic just before it vanished expire a few seconds later
            # (delivery timeout ≈ ack timeout + 1 s), and that expiry can stall the producer once
            # more, so the settled state must hold for 10 s in a row, not just once.
            admin.delete_topics(["pinterest.user"], timeout_ms=30000)
            deadline = time.monotonic() + 120
            settled_since = None
            while True:
                user, took = _post(url, "/user/", {"ind": 9})
                assert user.status_code in (202, 503), user.text  # 202 until the deletion is seen
                others = [_post(url, path, record)[0] for path, record in (("/pin/", PIN), ("/geo/", {"ind": 10}))]
                assert all(r.status_code in (202, 503) for r in others)
                if user.status_code == 503 and user.json()["error"] == "topic_missing" and took < 1.5 \
                        and all(r.status_code == 202 for r in others):
                    assert "'pinterest.user'" in user.json()["detail"]
                    settled_since = settled_since or time.monotonic()
                    if time.monotonic() - settled_since >= 10:
                        break
                else:
                    settled_since = None
                assert time.monotonic() < deadline, (user.text, [r.text for r in others], _api_log(url))
                time.sleep(0.3)
            for _ in range(5):  # and it stays that way
                assert _post(url, "/pin/", PIN)[0].status_code == 202
                assert _post(url, "/user/", {"ind": 9})[0].json()["error"] == "topic_missing"
        finally:
            reader.close()


def _live_senders() -> list:
    from kafka.producer.sender import Sender

    return [t for t in threading.enumerate() if isinstance(t, Sender) and t.is_alive()]


def test_the_producer_connects_once_with_a_topic_missing_and_leaks_nothing(lone_broker):
    """Before: partitions_for failing on the missing topic made the connect loop build a new
    KafkaProducer on every retry without closing the old one."""
    from pinterest_ingest.producer import TopicMissing

    bootstrap, admin = lone_broker
    admin.delete_topics(["pinterest.user"], timeout_ms=30000, raise_errors=False)  # may be gone already
    deadline = time.monotonic() + 30
    while "pinterest.user" in admin.list_topics():
        assert time.monotonic() < deadline, "pinterest.user was not deleted"
        time.sleep(0.2)
    before = len(_live_senders())
    producer = connected_api_producer(bootstrap, ack_timeout=1.0)
    try:
        time.sleep(4)  # several former retry periods
        assert len(_live_senders()) - before == 1
        assert "pinterest.user" in producer.missing_topics()

        async def produce():
            ack = await producer.produce("pinterest.pin", b"k", b"{}")
            with pytest.raises(TopicMissing, match="pinterest.user"):
                await producer.produce("pinterest.user", b"1", b"{}")
            return ack

        assert asyncio.run(produce()).topic == "pinterest.pin"
    finally:
        producer.close(timeout=5)
    assert len(_live_senders()) == before


def test_a_batch_stays_on_the_producer_it_captured_when_the_producer_is_swapped(stack):
    """_send must use the producer captured at the start, not re-read self._producer (which a
    replacement sets to None, then to a new producer, while records are being sent)."""
    from pinterest_ingest.producer import AsyncProducer

    producer = AsyncProducer(stack.kafka_bootstrap_servers, ack_timeout=5.0)
    producer.start()
    reader = TopicReader(stack.kafka_bootstrap_servers)
    try:
        deadline = time.monotonic() + 30
        while not producer.connected:
            assert time.monotonic() < deadline, producer._connect_error
            time.sleep(0.1)
        original = producer._producer

        class SwappingRecords(list):
            """Records whose iteration swaps the producer away after the fifth one is handed out."""

            def __iter__(self):
                for i, item in enumerate(list.__iter__(self)):
                    if i == 5:
                        producer._producer = None
                    yield item

        records = SwappingRecords((f"swap-{i}".encode(), json.dumps({"i": i}).encode()) for i in range(20))
        acks = asyncio.run(producer.produce_many("pinterest.geo", records))
        assert len(acks) == 20 and producer._producer is None
        values = [json.loads(reader.at(a.topic, a.partition, a.offset).value)["i"] for a in acks]
        assert values == list(range(20))
        producer._producer = original
    finally:
        reader.close()
        producer.close(timeout=5)
