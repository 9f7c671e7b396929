"""Reconciliation: follow every event the API accepted through each stage, and check the values.

The expectation is computed with the project's own cleaning (``clean`` + ``latest_per_key``) on the
accepted offsets read back from Kafka; each stage reports ``lost``, ``duplicated`` and ``stale``
rows, and ``clean(rows)`` is True only when all are 0. What each stage must hold:
docs/decisions.md, "Module notes out of the docstrings".
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pinterest_assets import entities as registry
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.settings import Settings

DAY = "_day"          # lineage column reconcile adds: UTC date of the Kafka timestamp, yyyy-MM-dd
MAX_EXAMPLES = 3


@dataclass
class StageCount:
    entity: str
    stage: str
    expected: int
    found: int
    lost: int
    duplicated: int
    stale: int = 0
    note: str = ""
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.stale == 0


def normalize_key(entity: str, key) -> str:
    """A key as the API and the cleaning normalise it (its text when the cleaning would reject it)."""
    normalised = registry.entity(entity).normalize_key(key)
    return normalised if normalised is not None else str(key)


def clean(rows: list[StageCount]) -> bool:
    return all(r.ok for r in rows)


def describe(rows: list[StageCount]) -> str:
    """The rows as plain text, one line each (plus their example diffs)."""
    lines = []
    for r in rows:
        lines.append(f"{r.entity:5} {r.stage:28} expected={r.expected} found={r.found} lost={r.lost} "
                     f"dup={r.duplicated} stale={r.stale} {r.note}".rstrip())
        lines += [f"      {e}" for e in r.examples]
    return "\n".join(lines)


# --------------------------------------------------------------------------- reading the stages


def read_cleaned_partition(spark, lake: LakeResource, entity: str, date: str, rejects: bool = False):
    """One day of the cleaned Iceberg table (or its rejects) as readers see it (``main``); None
    when the table does not exist. The one place reconcile (and the demo) read the cleaned layer."""
    from pinterest_assets.io_managers.lake import read_cleaned_day

    return read_cleaned_day(spark, lake, entity, date, rejects)


def kafka_messages(spark, settings: Settings, topic: str, ids: list[tuple[int, int]]):
    """The messages of `topic` in the offset span of `ids` per partition (Spark's Kafka source):
    _partition, _offset, _kafka_key, value (text), _topic, _timestamp."""
    from pyspark.sql import functions as F

    spans: dict[int, list[int]] = {}
    for partition, offset in ids:
        low, high = spans.get(partition, [offset, offset])
        spans[partition] = [min(low, offset), max(high, offset)]
    reader = (
        spark.read.format("kafka")
        .options(**KafkaResource.from_settings(settings).spark_options())
        .option("assign", json.dumps({topic: sorted(spans)}))
        .option("startingOffsets", json.dumps({topic: {str(p): lo for p, (lo, _) in spans.items()}}))
        .option("endingOffsets", json.dumps({topic: {str(p): hi + 1 for p, (_, hi) in spans.items()}}))
        .option("failOnDataLoss", "false")  # deleted offsets are reported as lost, not a crash
    )
    return reader.load().select(
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("key").cast("string").alias("_kafka_key"),
        F.col("value").cast("string").alias("value"),
        F.col("topic").alias("_topic"),
        F.col("timestamp").alias("_timestamp"),
        F.date_format(F.col("timestamp"), "yyyy-MM-dd").alias(DAY),  # the session time zone is UTC
    )


def landed_offsets(spark, lake: LakeResource, entity: str, topic: str, ids: list[tuple[int, int]]):
    """(_partition, _offset, n): how many landed raw or raw-quarantine lines hold each offset.

    Only the files whose offset range (in their name) overlaps the span of `ids` are read."""
    from pyspark.sql import functions as F

    from pinterest_assets.landing.files import landed_files

    spans: dict[int, tuple[int, int]] = {}
    for partition, offset in ids:
        low, high = spans.get(partition, (offset, offset))
        spans[partition] = (min(low, offset), max(high, offset))
    files = [f for f in landed_files(lake, entity) if f.topic == topic and f.partition in spans
             and f.last >= spans[f.partition][0] and f.first <= spans[f.partition][1]]
    if not files:
        return spark.createDataFrame([], "_partition INT, _offset BIGINT, n BIGINT")
    lineage = F.from_json(F.col("value"), "_topic STRING, _partition INT, _offset BIGINT")
    text = spark.read.text([lake.uri_of(f.relpath) for f in files])
    return (text.select(lineage.alias("l")).where(F.col("l._topic") == topic)
            .groupBy(F.col("l._partition").alias("_partition"), F.col("l._offset").alias("_offset"))
            .agg(F.count("*").alias("n")))


def postgres_table(spark, settings: Settings, table: str, where: str = ""):
    """``pinterest.<table>`` over JDBC (None when the table does not exist)."""
    from pinterest_assets.resources.postgres import PostgresResource

    postgres = PostgresResource.from_settings(settings)
    qualified = f'"{registry.SCHEMA}"."{table}"'
    with postgres.connect() as conn:
        if conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()[0] is None:
            return None
    query = f"SELECT * FROM {qualified}" + (f" WHERE {where}" if where else "")
    reader = spark.read.format("jdbc").option("url", postgres.jdbc_url()).option("query", query)
    for name, value in postgres.jdbc_properties().items():
        reader = reader.option(name, value)
    return reader.load()


# --------------------------------------------------------------------------- comparing


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(entity: str, stage: str, expected, actual, keys: list[str], columns: list[str],
            note: str = "") -> StageCount:
    """Expected rows (one per `keys`) against actual rows: lost, duplicated, stale (+ example diffs).

    `actual` is None when the stage holds nothing at all (a missing table or partition).
    """
    from functools import reduce

    from pyspark.sql import functions as F

    columns = [c for c in columns if c not in keys]
    exp = expected.select(*keys, *[F.col(c).alias(f"e__{c}") for c in columns])
    if actual is None:
        n = exp.count()
        return StageCount(entity, stage, n, 0, n, 0, 0, note)
    act = (actual.join(F.broadcast(exp.select(*keys)), keys, "left_semi")  # other keys don't matter
           .select(*keys, *[F.col(c).alias(f"a__{c}") for c in columns], F.lit(1).alias("a__present")))
    differs = [~F.col(f"e__{c}").eqNullSafe(F.col(f"a__{c}")) for c in columns]
    mismatch = reduce(lambda a, b: a | b, differs) if differs else F.lit(False)
    joined = exp.join(act, keys, "left").withColumn(
        "_mismatch", F.when(F.col("a__present").isNotNull(), mismatch).otherwise(F.lit(False)))
    per_key = joined.groupBy(*keys).agg(F.count("a__present").alias("n"),
                                        F.max(F.col("_mismatch").cast("int")).alias("bad"))
    totals = per_key.agg(
        F.count("*").alias("expected"),
        F.sum(F.when(F.col("n") > 0, 1).otherwise(0)).alias("found"),
        F.sum(F.when(F.col("n") > 1, 1).otherwise(0)).alias("duplicated"),
        F.sum(F.when((F.col("n") > 0) & (F.col("bad") == 1), 1).otherwise(0)).alias("stale"),
    ).first()
    expected_n, found = int(totals["expected"] or 0), int(totals["found"] or 0)
    stale = int(totals["stale"] or 0)
    examples = []
    if stale:
        for row in joined.where(F.col("_mismatch")).limit(MAX_EXAMPLES).collect():
            where = ", ".join(f"{k}={row[k]}" for k in keys)
            diffs = "; ".join(f"{c}: expected {_short(row[f'e__{c}'])}, found {_short(row[f'a__{c}'])}"
                              for c in columns if row[f"e__{c}"] != row[f"a__{c}"])
            examples.append(f"{where}: {diffs}")
    return StageCount(entity, stage, expected_n, found, expected_n - found,
                      int(totals["duplicated"] or 0), stale, note, examples)


def _union(frames):
    from functools import reduce

    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames) if frames else None


# --------------------------------------------------------------------------- reconcile


def reconcile(accepted_records: list[dict], settings: Settings, spark) -> list[StageCount]:
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for record in accepted_records:
        by_topic[record["topic"]].append(record)
    lake = LakeResource.from_settings(settings)
    rows: list[StageCount] = []
    for topic, records in sorted(by_topic.items()):
        spec = registry.by_topic(topic)
        if spec is None:
            rows.append(StageCount(topic, "accepted by API", len(records), len(records), 0, 0, 0,
                                   "no entity has this topic: not reconciled"))
            continue
        rows += reconcile_entity(spec, records, settings, spark, lake)
    return rows


def reconcile_entity(spec: registry.Entity, records: list[dict], settings: Settings, spark,
                     lake: LakeResource) -> list[StageCount]:
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import clean as clean_records, latest_per_key, raw_frame_from_json
    from pinterest_assets.ordering import Epochs, load_epochs

    entity, topic, key, columns = spec.name, spec.topic, spec.key, list(spec.columns)
    rows: list[StageCount] = []
    epochs = load_epochs(lake, entity, topic) or Epochs(topic, 0)  # the order rule's grow boundaries

    # ---- accepted by the API: one identity per (partition, offset)
    key_of, repeated = _identities(records)
    ids = sorted(key_of)
    versions = Counter(key_of.values())
    posted_again = sum(1 for n in versions.values() if n > 1)
    rows.append(StageCount(entity, "accepted by API", len(records), len(ids), 0, repeated, 0,
                           f"{len(versions)} distinct keys, {posted_again} posted more than once"))
    accepted = spark.createDataFrame([(p, o, k) for (p, o), k in key_of.items()],
                                     "_partition INT, _offset BIGINT, _reported_key STRING")

    # ---- Kafka: the message at each accepted offset, with the accepted key
    events, in_kafka, kafka_note = _accepted_events(spark, settings, topic, ids, accepted, epochs)
    rows.append(StageCount(entity, "in Kafka", len(ids), in_kafka, len(ids) - in_kafka, 0, 0, kafka_note))

    # ---- raw landing: every accepted offset in exactly one landed line
    landed = accepted.join(landed_offsets(spark, lake, entity, topic, ids), ["_partition", "_offset"], "left")
    counts = landed.agg(F.sum(F.when(F.col("n").isNull(), 1).otherwise(0)).alias("lost"),
                        F.sum(F.when(F.col("n") > 1, 1).otherwise(0)).alias("dup")).first()
    lost_raw = int(counts["lost"] or 0)
    rows.append(StageCount(entity, "landed raw", len(ids), len(ids) - lost_raw, lost_raw, int(counts["dup"] or 0)))
    if events is None:
        return rows

    # ---- the expectation: the accepted events cleaned by the project's cleaning library
    cleaned, rejected = clean_records(entity, raw_frame_from_json(events, "value", entity=entity))
    cleaned, rejected = cleaned.persist(), rejected.persist()
    days = sorted(r[DAY] for r in cleaned.select(DAY).union(rejected.select(DAY)).distinct().collect())
    daily_expected = _union([latest_per_key(cleaned.where(F.col(DAY) == day), entity) for day in days])
    if daily_expected is None:  # every event was rejected: no row is expected anywhere
        daily_expected = cleaned.limit(0)
    daily_expected = daily_expected.persist()
    rejected_ids = {(r["_partition"], r["_offset"]) for r in rejected.select("_partition", "_offset").collect()}
    newest: dict[str, tuple[int, int]] = {}
    for ident, k in key_of.items():  # the order rule: the highest _order of the key
        newest[k] = max(newest.get(k, ident), ident, key=lambda i: epochs.order(*i))
    newest_rejected = sum(1 for ident in newest.values() if ident in rejected_ids)
    reject_note = (f"{newest_rejected} keys whose newest event was rejected: expected in the rejects"
                   if newest_rejected else "")
    value_note = f"{len(columns)} columns compared; {posted_again} keys with several events"

    # ---- the cleaned Iceberg table, day by day
    actual_parts, missing = [], []
    for day in days:
        part = read_cleaned_partition(spark, lake, entity, day)
        if part is None:
            missing.append(day)
        else:
            actual_parts.append(part.select(key, *[c for c in columns if c != key]).withColumn(DAY, F.lit(day)))
    note = value_note + (f"; no partition for {', '.join(missing)}" if missing else "")
    rows.append(compare(entity, "cleaned (lake)", daily_expected, _union(actual_parts), [DAY, key], columns, note))

    # ---- the cleaning's rejects in the lake: every rejected event, with its reason
    if rejected_ids:
        reject_parts = []
        for day in days:
            part = read_cleaned_partition(spark, lake, entity, day, rejects=True)
            if part is not None:
                reject_parts.append(part.select("_partition", "_offset", "reason"))
        rows.append(compare(entity, "cleaning rejects (lake)", rejected.select("_partition", "_offset", "reason"),
                            _union(reject_parts), ["_partition", "_offset"], ["reason"], reject_note))

    rows += _postgres_stages(spark, settings, spec, days, daily_expected, cleaned, rejected,
                             bool(rejected_ids), value_note, reject_note)
    for frame in (events, cleaned, rejected, daily_expected):
        frame.unpersist()
    return rows


def _identities(records: list[dict]) -> tuple[dict[tuple[int, int], str], int]:
    """({(partition, offset): key} of the accepted records, how many repeated an identity)."""
    key_of: dict[tuple[int, int], str] = {}
    repeated = 0
    for r in records:
        ident = (int(r["partition"]), int(r["offset"]))
        repeated += ident in key_of
        key_of[ident] = str(r["key"])
    return key_of, repeated


def _accepted_events(spark, settings: Settings, topic: str, ids, accepted, epochs):
    """(the accepted messages read back from Kafka with the accepted key, their count, a note);
    events None when the topic is gone or unreadable."""
    from pyspark.sql import functions as F

    from pinterest_assets.ordering import ORDER_COLUMN, order_column

    try:
        messages = kafka_messages(spark, settings, topic, ids)
        events = (messages.join(F.broadcast(accepted), ["_partition", "_offset"], "inner")
                  .where(F.col("_kafka_key") == F.col("_reported_key"))
                  .select("value", "_topic", "_partition", "_offset", "_timestamp", DAY,
                          order_column(epochs).alias(ORDER_COLUMN))
                  .persist())
        return events, events.count(), ""
    except Exception as exc:  # noqa: BLE001 - the topic is gone or unreadable: everything is lost
        return None, 0, f"Kafka read failed: {' '.join(str(exc).split())[:200]}"


def _postgres_stages(spark, settings: Settings, spec: registry.Entity, days: list[str], daily_expected,
                     cleaned, rejected, any_rejected: bool, value_note: str, reject_note: str) -> list[StageCount]:
    """The Postgres tables against the expectation: ``<entity>_table`` by (date, key), and the
    entity's stream table (newest clean event per key) with its rejects."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import latest_per_key

    entity, topic, key, columns = spec.name, spec.topic, spec.key, list(spec.columns)
    rows = []
    # ---- Postgres <entity>_table, (date, key) by (date, key)
    table = postgres_table(spark, settings, spec.table_asset,
                           where=("date IN (" + ", ".join(f"DATE '{d}'" for d in days) + ")") if days else "false")
    if table is not None:
        table = table.withColumn(DAY, F.date_format(F.col("date"), "yyyy-MM-dd"))
    rows.append(compare(entity, f"Postgres {spec.table_asset}", daily_expected, table,
                        [DAY, key], columns, value_note + ("" if table is not None else "; table missing")))
    # ---- Postgres <stream table>: one row per key, the newest clean event overall
    if spec.stream_table:
        stream = postgres_table(spark, settings, spec.stream_table)
        rows.append(compare(entity, f"Postgres {spec.stream_table}", latest_per_key(cleaned, entity),
                            stream, [key], columns, value_note + ("" if stream is not None else "; table missing")))
        if any_rejected:
            stream_rejects = postgres_table(spark, settings, f"{spec.stream_table}_rejects",
                                            where="_kafka_topic = '" + topic.replace("'", "''") + "'")
            if stream_rejects is not None:
                stream_rejects = stream_rejects.select(F.col("_kafka_partition").alias("_partition"),
                                                       F.col("_kafka_offset").alias("_offset"), "reason")
            rows.append(compare(entity, f"Postgres {spec.stream_table}_rejects",
                                rejected.select("_partition", "_offset", "reason"), stream_rejects,
                                ["_partition", "_offset"], ["reason"], reject_note))
    return rows
