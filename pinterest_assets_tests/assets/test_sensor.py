"""The Kafka sensor against the real broker, evaluated with build_sensor_context and a cursor."""

import json
import time

import dagster as dg
import pytest

from pinterest_assets.assets.raw import build_raw_assets
from pinterest_assets.sensors import build_kafka_new_events_sensor, run_key_for

RAW_ASSETS = build_raw_assets()
kafka_new_events_sensor = build_kafka_new_events_sensor()
from pinterest_assets_tests.assets.conftest import lake_lines

pytestmark = pytest.mark.integration


def tick(sensor, kafka, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"kafka": kafka})
    started = time.monotonic()
    result = sensor(context)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"a sensor tick took {elapsed:.2f}s"
    return result


def test_sensor_requests_ingest_once_per_new_offsets_then_landing_gets_them_all(kafka, file_lake, produce, topics):
    assert kafka_new_events_sensor.job_name == "ingest_job"
    empty = tick(kafka_new_events_sensor, kafka)
    assert not empty.run_requests and empty.skip_reason

    produced = produce(topics["pin"], [{"unique_id": f"00000000-0000-4000-8000-{i:012d}", "index": i}
                                       for i in range(7)], key=lambda r: r["unique_id"])
    produce(topics["geo"], [{"ind": i} for i in range(5)], key=lambda r: str(r["ind"]))
    result = tick(kafka_new_events_sensor, kafka, empty.cursor)
    [request] = result.run_requests
    assert request.tags["pinterest/new_messages"] == "12"
    target = json.loads(result.cursor)["offsets"]
    assert sum(v for k, v in target.items() if k.startswith(topics["pin"])) == 7
    assert request.run_key == run_key_for(target)

    # same offsets, same decision and the same run_key (Dagster dedups it)
    assert tick(kafka_new_events_sensor, kafka, empty.cursor).run_requests[0].run_key == request.run_key
    # nothing new since the request: skip
    assert not tick(kafka_new_events_sensor, kafka, result.cursor).run_requests

    # the requested landing lands exactly those records
    landed = dg.materialize(RAW_ASSETS, resources={"kafka": kafka, "lake": file_lake})
    assert landed.success
    pins = lake_lines(file_lake, "raw/pin")
    assert sorted((r["_partition"], r["_offset"]) for r in pins) == sorted(produced)
    assert len(lake_lines(file_lake, "raw/geo")) == 5


def test_min_count_and_max_wait(kafka, produce, topics):
    sensor = build_kafka_new_events_sensor(name="kafka_sensor_min10", min_new_messages=10, max_wait_seconds=60)
    baseline = tick(sensor, kafka).cursor
    produce(topics["user"], [{"ind": i} for i in range(3)])

    waiting = tick(sensor, kafka, baseline)
    assert not waiting.run_requests and "3 new message(s)" in waiting.skip_reason.skip_message
    state = json.loads(waiting.cursor)
    assert state["pending_since"] is not None
    assert tick(sensor, kafka, waiting.cursor).run_requests == []

    # the same 3 messages, but they have waited longer than max_wait: run
    state["pending_since"] -= 61
    [request] = tick(sensor, kafka, json.dumps(state)).run_requests
    assert request.tags["pinterest/trigger"] == "max_wait"

    # enough messages trigger at once
    produce(topics["user"], [{"ind": i} for i in range(10)])
    [request] = tick(sensor, kafka, baseline).run_requests
    assert request.tags["pinterest/trigger"] == "count"


def test_sensor_on_missing_topics_skips(stack):
    from pinterest_assets.resources.kafka import KafkaResource

    kafka = KafkaResource(bootstrap_servers=stack.kafka_bootstrap_servers, topics={"pin": "test.does-not-exist"})
    result = tick(kafka_new_events_sensor, kafka)
    assert not result.run_requests


def test_sensor_observes_end_offsets_and_what_is_not_landed(kafka, file_lake, produce, topics):
    """Each tick records an observation on kafka_pinterest_<entity> when its numbers changed."""
    def observe(instance, cursor=None):
        context = dg.build_sensor_context(cursor=cursor, resources={"kafka": kafka}, instance=instance)
        result = kafka_new_events_sensor(context)
        return result, {o.asset_key.to_user_string(): o.metadata for o in result.asset_events or []}

    with dg.instance_for_test() as instance:
        produce(topics["pin"], [{"unique_id": f"00000000-0000-4000-8000-{i:012d}"} for i in range(4)],
                key=lambda r: r["unique_id"])
        first, seen = observe(instance)
        assert set(seen) == {"kafka_pinterest_pin", "kafka_pinterest_geo", "kafka_pinterest_user"}
        pin = seen["kafka_pinterest_pin"]
        assert pin["topic"].value == topics["pin"] and pin["messages_produced"].value == 4
        assert sum(pin["end_offsets"].value.values()) == 4
        assert "not_landed" not in pin  # never landed: unknown, not a guess

        assert dg.materialize(RAW_ASSETS, resources={"kafka": kafka, "lake": file_lake}, instance=instance).success
        second, seen = observe(instance, first.cursor)
        assert seen["kafka_pinterest_pin"]["not_landed"].value == 0
        assert seen["kafka_pinterest_geo"]["not_landed"].value == 0

        produce(topics["pin"], [{"unique_id": f"00000000-0000-4000-8000-{i:012d}"} for i in range(4, 7)],
                key=lambda r: r["unique_id"])
        third, seen = observe(instance, second.cursor)
        assert set(seen) == {"kafka_pinterest_pin"}  # geo and user did not change: no new events
        assert (seen["kafka_pinterest_pin"]["not_landed"].value, seen["kafka_pinterest_pin"]["messages_produced"].value) == (3, 7)
        assert sum(seen["kafka_pinterest_pin"]["not_landed_per_partition"].value.values()) == 3
        assert observe(instance, third.cursor)[1] == {}
