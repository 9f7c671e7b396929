"""`kafka_new_events_sensor`: a cheap Kafka offset watcher that requests `ingest_job`.

Each tick reads the end offsets of the entity topics (one ListOffsets request: it never consumes a
message and never starts Spark) and compares them with the JSON cursor — the offsets it last
asked to land. When at least ``min_new_messages`` are new, or fewer have waited
``max_wait_seconds``, it requests one run whose ``run_key`` is derived from the target offsets,
so the same offsets never start two runs. The landing itself reads its start from the lake, so a
failed or skipped run just leaves more for the next one.

Cursor: ``{"offsets": {"pinterest.pin/0": 120, ...}, "pending_since": <unix time or null>}``.
"""


import hashlib
import json
import time

import dagster as dg

from pinterest_assets.jobs import ingest_job
from pinterest_assets.resources.kafka import KafkaResource, tp_label

DEFAULT_MIN_NEW_MESSAGES = 1
DEFAULT_MAX_WAIT_SECONDS = 300


def parse_cursor(cursor: str | None) -> dict:
    if not cursor:
        return {"offsets": {}, "pending_since": None}
    try:
        data = json.loads(cursor)
        return {"offsets": {str(k): int(v) for k, v in data.get("offsets", {}).items()},
                "pending_since": data.get("pending_since")}
    except (ValueError, AttributeError, TypeError):
        # a cursor edited by hand into garbage: start over (landing is idempotent anyway)
        return {"offsets": {}, "pending_since": None}


def make_cursor(offsets: dict[str, int], pending_since: float | None) -> str:
    return json.dumps({"offsets": dict(sorted(offsets.items())), "pending_since": pending_since},
                      sort_keys=True)


def run_key_for(offsets: dict[str, int]) -> str:
    """Deterministic: the same target offsets always give the same key."""
    canonical = ",".join(f"{label}={offset}" for label, offset in sorted(offsets.items()))
    return "kafka-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


def evaluate_offsets(ends: dict[str, int], cursor: str | None, *, min_new_messages: int,
                     max_wait_seconds: float, now: float) -> dg.SensorResult:
    """The sensor's decision for given end offsets (pure: no Kafka, no clock)."""
    state = parse_cursor(cursor)
    seen = state["offsets"]
    new = sum(max(0, end - seen.get(label, 0)) for label, end in ends.items())
    if new == 0:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new Kafka messages"),
                               cursor=make_cursor({**seen, **ends}, None))
    pending_since = state["pending_since"] if state["pending_since"] is not None else now
    waited = now - pending_since
    if new < min_new_messages and waited < max_wait_seconds:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{new} new message(s), waiting for {min_new_messages} or {max_wait_seconds:.0f}s "
                f"(waited {waited:.0f}s)"),
            cursor=make_cursor(seen, pending_since),
        )
    target = {**seen, **ends}
    request = dg.RunRequest(
        run_key=run_key_for(target),
        tags={"pinterest/new_messages": str(new), "pinterest/trigger":
              "count" if new >= min_new_messages else "max_wait"},
    )
    return dg.SensorResult(run_requests=[request], cursor=make_cursor(target, None))


def build_kafka_new_events_sensor(
    *,
    name: str = "kafka_new_events_sensor",
    min_new_messages: int = DEFAULT_MIN_NEW_MESSAGES,
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """The sensor with its thresholds: a run once `min_new_messages` are new, or after
    `max_wait_seconds` for fewer."""
    if min_new_messages < 1:
        raise ValueError("min_new_messages must be at least 1")

    @dg.sensor(
        name=name,
        job=ingest_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(f"Requests ingest_job when Kafka holds ≥ {min_new_messages} new message(s), "
                     f"or fewer for {max_wait_seconds:.0f}s. Reads offsets only."),
    )
    def _sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource) -> dg.SensorResult:
        ends = {tp_label(tp): off for tp, off in kafka.end_offsets().items()}
        return evaluate_offsets(ends, context.cursor, min_new_messages=min_new_messages,
                                max_wait_seconds=max_wait_seconds, now=time.time())

    return _sensor


kafka_new_events_sensor = build_kafka_new_events_sensor()
