"""Sensors: `kafka_new_events_sensor` requests landings; `late_data_sensor` re-cleans days that
got events after they were cleaned.

`kafka_new_events_sensor`: a cheap Kafka offset watcher that requests `ingest_job`.

Each tick reads the end offsets of the entity topics (one ListOffsets request: it never consumes a
message and never starts Spark) and compares them with the JSON cursor — the offsets it last
asked to land. When at least ``min_new_messages`` are new, or fewer have waited
``max_wait_seconds``, it requests one run whose ``run_key`` is derived from the target offsets,
so the same offsets never start two runs. The landing itself reads its start from the lake, so a
failed or skipped run just leaves more for the next one.

Each tick also records an observation on each ``kafka_pinterest_<entity>`` topic asset whose
numbers changed: its end offsets and ``not_landed`` (end offsets minus where the latest raw_<entity>
landing stopped, its ``next_offsets``), so the topic's lag shows in the Dagster UI.

Cursor: ``{"offsets": {"pinterest.pin/0": 120, ...}, "pending_since": <unix time or null>,
"observed": {<topic asset>: <hash of its last observation>}}``.
"""


import hashlib
import json
import time

import dagster as dg

from pinterest_assets.jobs import build_ingest_job
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


def landed_next_offsets(instance: dg.DagsterInstance | None, entity: str) -> dict[str, int] | None:
    """Where landing resumes per topic-partition label, from the latest raw_<entity> materialization
    (its ``next_offsets``); None when unknown (never landed, or no instance)."""
    from pinterest_assets import entities as registry

    if instance is None:
        return None
    event = instance.get_latest_materialization_event(dg.AssetKey(registry.entity(entity).raw_asset))
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("next_offsets")
    return {str(k): int(v) for k, v in value.value.items()} if value is not None else None


def topic_observations(topics: dict[str, str], ends: dict[str, int],
                       landed: dict[str, dict[str, int] | None]) -> list[dg.AssetObservation]:
    """One observation per kafka_pinterest_<entity>: its end offsets and what is not landed yet (pure)."""
    from pinterest_assets import entities as registry

    out = []
    for entity, topic in sorted(topics.items()):
        mine = {label: end for label, end in sorted(ends.items()) if label.rsplit("/", 1)[0] == topic}
        metadata = {"topic": topic, "end_offsets": dg.MetadataValue.json(mine),
                    "messages_produced": sum(mine.values())}
        done = landed.get(entity)
        if done is not None:
            behind = {label: max(0, end - done.get(label, 0)) for label, end in mine.items()}
            metadata.update(not_landed=sum(behind.values()),
                            not_landed_per_partition=dg.MetadataValue.json(behind))
        out.append(dg.AssetObservation(asset_key=registry.entity(entity).topic_asset, metadata=metadata))
    return out


def _fingerprint(observation: dg.AssetObservation) -> str:
    values = {k: v.value for k, v in observation.metadata.items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def with_topic_observations(result: dg.SensorResult, context, topics: dict[str, str],
                            ends: dict[str, int]) -> dg.SensorResult:
    """`result` plus observations of the topic assets that changed since the last ones recorded
    (remembered in the cursor under ``observed``), so an idle topic adds no events."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a test context without an instance
        instance = None
    landed = {entity: landed_next_offsets(instance, entity) for entity in topics}
    try:
        seen = json.loads(context.cursor or "{}").get("observed") or {}
    except (ValueError, AttributeError):
        seen = {}
    observed = {o.asset_key.to_user_string(): (o, _fingerprint(o))
                for o in topic_observations(topics, ends, landed)}
    changed = [o for key, (o, fp) in observed.items() if seen.get(key) != fp]
    cursor = json.loads(result.cursor)
    cursor["observed"] = {key: fp for key, (_, fp) in observed.items()}
    return dg.SensorResult(run_requests=result.run_requests, skip_reason=result.skip_reason,
                           cursor=json.dumps(cursor, sort_keys=True), asset_events=changed)


def build_kafka_new_events_sensor(
    *,
    job=None,
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
        job=job or build_ingest_job(),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(f"Requests ingest_job when Kafka holds ≥ {min_new_messages} new message(s), "
                     f"or fewer for {max_wait_seconds:.0f}s. Reads offsets only."),
    )
    def _sensor(context: dg.SensorEvaluationContext, kafka: KafkaResource) -> dg.SensorResult:
        ends = {tp_label(tp): off for tp, off in kafka.end_offsets().items()}
        result = evaluate_offsets(ends, context.cursor, min_new_messages=min_new_messages,
                                  max_wait_seconds=max_wait_seconds, now=time.time())
        return with_topic_observations(result, context, kafka.topics, ends)

    return _sensor


# --------------------------------------------------------------------------- late data


def late_days(landed_dates: list[str], cleaned_after: dict[str, bool], skip: str | None) -> list[str]:
    """Days a landing added clean records to that need cleaning again (pure).

    `cleaned_after[day]` tells whether the day's cleaned partition was materialized AFTER the
    landing (then it already holds the new records); days never cleaned are left to the daily
    run; `skip` is the day the landing's own daily run cleans next.
    """
    return sorted(d for d in set(landed_dates) if d != skip and cleaned_after.get(d) is False)


def queued_partitions(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    """Partitions of `job_name` with a run that has not started yet (queued or not started)."""
    runs = instance.get_runs(filters=dg.RunsFilter(
        job_name=job_name, statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]))
    return {run.tags["dagster/partition"] for run in runs if "dagster/partition" in run.tags}


def build_late_data_sensor(*, job, name: str = "late_data_sensor", minimum_interval_seconds: int = 30,
                           default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING
                           ) -> dg.SensorDefinition:
    """Watches raw_* materializations; when a landing added records to a day whose cleaned_*
    partition was already materialized, requests `job` (daily_batch_job) for that day.

    Cursor: the last raw_* materialization storage id handled per entity. Run keys
    ``late-<day>-<storage id>`` make each (landing, day) request once. A day that already has a
    run of `job` waiting in the queue is not requested again: that run reads the lake when it
    starts, so it takes the new records too (a steady trickle of late events queues one re-clean
    per day, not one per landing).
    """
    from pinterest_assets import entities as registry

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=("Late data: when a raw_* landing adds events to a day whose cleaned_* partition "
                     "is already materialized, runs daily_batch_job for that day again."),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            cursor = {str(k): int(v) for k, v in json.loads(context.cursor or "{}").items()}
        except (ValueError, AttributeError, TypeError):
            cursor = {}
        instance = context.instance
        requests: dict[str, dg.RunRequest] = {}
        waiting: set[str] | None = None  # days with a run of `job` still queued (read once, when needed)
        for spec in registry.ENTITIES.values():
            raw_key, cleaned_key = dg.AssetKey(spec.raw_asset), dg.AssetKey(spec.cleaned_asset)
            after = cursor.get(spec.name)
            if after is None:
                # first tick: start from now, older landings were handled by their daily runs
                latest = instance.fetch_materializations(raw_key, limit=1)
                cursor[spec.name] = latest.records[0].storage_id if latest.records else 0
                continue
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=raw_key, after_storage_id=after), limit=50, ascending=True)
            for record in result.records:
                cursor[spec.name] = max(cursor[spec.name], record.storage_id)
                materialization = record.asset_materialization
                entry = materialization.metadata.get("clean_dates_touched") if materialization else None
                days = list(entry.value) if entry is not None else []
                if not days:
                    continue
                run = instance.get_run_by_id(record.run_id)
                own_day = run.tags.get("dagster/partition") if run is not None else None
                cleaned_after = {}
                for day in days:
                    newest = instance.fetch_materializations(
                        dg.AssetRecordsFilter(asset_key=cleaned_key, asset_partitions=[day]), limit=1)
                    cleaned_after[day] = (newest.records[0].storage_id > record.storage_id
                                          if newest.records else None)
                for day in late_days(days, cleaned_after, own_day):
                    if waiting is None:
                        waiting = queued_partitions(instance, job.name)
                    if day in waiting:
                        context.log.info(f"late events for {day}: a queued {job.name} run for it will take them")
                        continue
                    requests.setdefault(day, dg.RunRequest(
                        run_key=f"late-{day}-{record.storage_id}", partition_key=day,
                        # retried like ingest_job: the cursor has moved past this landing, so a
                        # failed re-clean would otherwise wait for the next late event of the day
                        tags={"pinterest/trigger": "late_data", "pinterest/late_entity": spec.name,
                              "dagster/max_retries": "2"}))
        if not requests:
            return dg.SensorResult(skip_reason=dg.SkipReason("no late events for cleaned days"),
                                   cursor=json.dumps(cursor, sort_keys=True))
        return dg.SensorResult(run_requests=list(requests.values()), cursor=json.dumps(cursor, sort_keys=True))

    return _sensor
