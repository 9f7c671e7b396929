"""Reconciliation: follow every event the API accepted through each stage of the pipeline.

Input is the emulator's list of accepted records (topic, key, partition, offset). For each topic
the stages are counted by *identity*, not by volume:

* Kafka:        the message at (partition, offset) exists and carries the accepted key;
* raw landed:   that (partition, offset) is in exactly one landed raw (or quarantine) line;
* cleaned:      each distinct accepted key is one row of the cleaned Parquet of its day;
* Postgres:     each distinct key is one row of the daily table (per date);
* pin_stream:   each distinct pin key is one row of `pinterest.pin_stream`.

`lost` counts accepted identities missing from a stage; `duplicated` counts identities present
more than once. Both must be 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

from pinterest_assets.settings import TOPICS, Settings

ENTITY_OF_TOPIC = {topic: entity for entity, topic in TOPICS.items()}
KEY_COLUMN = {"pin": "unique_id", "geo": "ind", "user": "ind"}


@dataclass
class StageCount:
    entity: str
    stage: str
    expected: int
    found: int
    lost: int
    duplicated: int
    note: str = ""


def normalize_key(entity: str, key) -> str:
    text = str(key).strip()
    if entity == "pin":
        return text.lower()
    try:
        return str(int(text))
    except ValueError:
        return text


def _stage(entity, stage, expected: set, seen: Counter, note: str = "") -> StageCount:
    found = {k for k in expected if seen.get(k, 0) > 0}
    duplicated = sum(1 for k in expected if seen.get(k, 0) > 1)
    return StageCount(entity, stage, len(expected), len(found), len(expected - found), duplicated, note)


def kafka_offsets(settings: Settings, topic: str, wanted: dict[int, set[int]]) -> dict[tuple[int, int], str]:
    """(partition, offset) -> key for every offset in the span of `wanted`, read from the broker."""
    from kafka import KafkaConsumer, TopicPartition

    found: dict[tuple[int, int], str] = {}
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=10000, max_poll_records=5000)
    try:
        for partition, offsets in wanted.items():
            if not offsets:
                continue
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, min(offsets))
            last = max(offsets)
            for message in consumer:
                found[(partition, message.offset)] = (message.key or b"").decode("utf-8", "replace")
                if message.offset >= last:
                    break
    finally:
        consumer.close()
    return found


def reconcile(accepted_records: list[dict], settings: Settings, spark) -> list[StageCount]:
    from pyspark.sql import functions as F

    by_topic: dict[str, list[dict]] = defaultdict(list)
    for record in accepted_records:
        by_topic[record["topic"]].append(record)

    rows: list[StageCount] = []
    lake = settings.lake.rstrip("/")
    for topic, records in sorted(by_topic.items()):
        entity = ENTITY_OF_TOPIC.get(topic, topic)
        ids = {(r["partition"], r["offset"]) for r in records}
        keys = {normalize_key(entity, r["key"]) for r in records}
        rows.append(StageCount(entity, "accepted by API", len(ids), len(ids), 0, 0,
                               f"{len(keys)} distinct keys"))

        wanted: dict[int, set[int]] = defaultdict(set)
        for partition, offset in ids:
            wanted[partition].add(offset)
        in_kafka = kafka_offsets(settings, topic, wanted)
        key_of = {(r["partition"], r["offset"]): str(r["key"]) for r in records}
        seen = Counter(i for i in ids if in_kafka.get(i) == key_of[i])
        rows.append(_stage(entity, "in Kafka", ids, seen))

        landed = Counter()
        for folder in (f"{lake}/raw/{entity}", f"{lake}/quarantine/raw/{entity}"):
            try:
                df = spark.read.option("recursiveFileLookup", "true").json(folder)
            except Exception:  # noqa: BLE001 - folder not there: nothing landed
                continue
            if "_partition" not in df.columns:
                continue
            for r in (df.where(F.col("_topic") == topic).groupBy("_partition", "_offset").count().collect()):
                landed[(int(r["_partition"]), int(r["_offset"]))] += int(r["count"])
        rows.append(_stage(entity, "landed raw", ids, landed))

        key_col = KEY_COLUMN[entity]
        rejected = _quarantined_keys(spark, f"{lake}/quarantine/cleaned/{entity}", entity, key_col)
        expected_keys = keys - rejected
        cleaned = Counter()
        try:
            df = spark.read.parquet(f"{lake}/cleaned_{entity}")
            for r in df.groupBy(key_col).count().collect():
                cleaned[normalize_key(entity, r[key_col])] += int(r["count"])
        except Exception:  # noqa: BLE001
            pass
        note = f"{len(rejected & keys)} keys quarantined" if rejected & keys else ""
        rows.append(_stage(entity, "cleaned (lake)", expected_keys, cleaned, note))
        rows.append(_stage(entity, f"Postgres {entity}_table", expected_keys,
                           _pg_key_counts(settings, f"{entity}_table", key_col, per_date=True)))
        if entity == "pin":
            rows.append(_stage(entity, "Postgres pin_stream", expected_keys,
                               _pg_key_counts(settings, "pin_stream", key_col, per_date=False)))
    return rows


def _quarantined_keys(spark, folder: str, entity: str, key_col: str) -> set[str]:
    from pyspark.sql import functions as F

    try:
        df = spark.read.parquet(folder)
    except Exception:  # noqa: BLE001 - no quarantine folder: nothing rejected
        return set()
    if "raw" not in df.columns:
        return set()
    values = df.select(F.get_json_object(F.col("raw"), f"$.{key_col}").alias("k")).collect()
    return {normalize_key(entity, r["k"]) for r in values if r["k"] is not None}


def _pg_key_counts(settings: Settings, table: str, key_col: str, per_date: bool) -> Counter:
    """How often each key appears: per date for a daily table (a key may legitimately be posted
    on several days), over the whole table otherwise."""
    import psycopg

    counts: Counter = Counter()
    query = (f"select {key_col}::text, count(*) from pinterest.{table} group by {key_col}, date"
             if per_date else f"select {key_col}::text, count(*) from pinterest.{table} group by {key_col}")
    try:
        with psycopg.connect(settings.postgres_dsn, connect_timeout=5) as conn:
            for key, n in conn.execute(query):
                counts[key] = max(counts[key], n) if per_date else counts[key] + n
    except psycopg.errors.UndefinedTable:
        pass
    return counts


def as_dicts(rows: list[StageCount]) -> list[dict]:
    return [asdict(r) for r in rows]


def clean(rows: list[StageCount]) -> bool:
    return all(r.lost == 0 and r.duplicated == 0 for r in rows)
