"""cleaned_pin, cleaned_geo, cleaned_user: one UTC day of landed raw events, cleaned by Spark.

A partition is the day of the events' Kafka timestamps. ``daily_batch_job`` materializes
``raw_<entity>`` first in the same run (landing is idempotent), so events produced before the end
of that day but not landed yet are not missed. The asset then reads that day's raw files, applies
the cleaning library (the same code as the stream) and keeps the newest event per key.

The day is replaced in the Iceberg tables ``cleaned_<entity>`` and ``cleaned_<entity>_rejects``
by write-audit-publish (:class:`~pinterest_assets.io_managers.lake.DayCommit`): data and rejects are
written to an audit branch, the checks run on the branch, the metadata (counts, preview) is
computed, and only then, if the blocking checks pass, is the branch published to ``main``.
Otherwise the run fails and readers keep seeing the previous day. Nothing that can fail runs after
the publish.
"""


from dataclasses import dataclass

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets import entities as registry
from pinterest_assets.assets.raw import landed_files
from pinterest_assets.checks import cleaned_check_specs, evaluate_cleaned_checks
from pinterest_assets.cleaning import clean as clean_records, latest_per_key, raw_frame_from_json
from pinterest_assets.cleaning.common import OUT_OF_DOMAIN_COLUMN
from pinterest_assets.crash_hooks import crash_point
from pinterest_assets.io_managers.lake import DayCommit, cleaned_table
from pinterest_assets.ordering import (
    ORDER_COLUMN,
    Epochs,
    PartitionCountChanged,
    count_changed_message,
    load_epochs,
    order_column,
)
from pinterest_assets.partitions import DAILY_BACKFILL_POLICY, daily_partitions
from pinterest_assets.resources.lake import LakeResource

PREVIEW_ROWS = 5
LINEAGE_SCHEMA = "_topic STRING, _partition INT, _offset BIGINT, _timestamp STRING"


def read_raw_day(spark, lake: LakeResource, entity: str, date: str):
    """The day's landed raw records as (value text, _topic, _partition, _offset, _timestamp, _order);
    and the file count."""
    from pyspark.sql import functions as F

    files = [f for f in landed_files(lake, entity, date) if not f.quarantine]
    epochs = day_epochs(lake, entity, files)
    if files:
        text = spark.read.text([lake.uri_of(f.relpath) for f in files])
    else:
        text = spark.createDataFrame([], "value STRING")
    lineage = F.from_json(F.col("value"), LINEAGE_SCHEMA)
    frame = text.select(
        F.col("value"),
        lineage.getField("_topic").alias("_topic"),
        lineage.getField("_partition").alias("_partition"),
        lineage.getField("_offset").alias("_offset"),
        F.to_timestamp(lineage.getField("_timestamp")).alias("_timestamp"),
    )
    order = order_column(None)
    for topic, epochs in epochs.items():
        order = F.when(F.col("_topic") == topic, order_column(epochs)).otherwise(order)
    return frame.withColumn(ORDER_COLUMN, order), len(files)


def day_epochs(lake: LakeResource, entity: str, files) -> dict[str, Epochs]:
    """The recorded epochs of each topic the day's files came from (none recorded: epoch 0). Fails
    when a file is of a partition the record does not know (partitions added outside the grow)."""
    found = {}
    for topic in sorted({f.topic for f in files}):
        epochs = load_epochs(lake, entity, topic)
        if epochs is None:
            continue
        unknown = sorted({f.partition for f in files if f.topic == topic and f.partition >= epochs.partitions})
        if unknown:
            raise PartitionCountChanged(count_changed_message(
                entity, topic, epochs.partitions, max(unknown) + 1, "nothing was cleaned"))
        found[topic] = epochs
    return found


def clean_day(spark, lake: LakeResource, entity: str, date: str):
    """(clean newest-per-key DataFrame, rejects DataFrame, raw record count, raw file count) of one day.

    The clean frame carries ``_out_of_domain`` (the fields set to NULL for being outside their
    Domain), which clean_and_commit counts and drops before writing."""
    raw_text, n_files = read_raw_day(spark, lake, entity, date)
    raw_text = raw_text.persist()
    raw_records = raw_text.count()
    cleaned = clean_records(entity, raw_frame_from_json(raw_text, col="value", entity=entity))
    return latest_per_key(cleaned.annotated, entity).persist(), cleaned[1].persist(), raw_records, n_files


def markdown_preview(df, limit: int = PREVIEW_ROWS) -> str:
    """The first rows as a markdown table, every value rendered as text by Spark (no Python
    datetime conversion, which has a narrower range than Spark's)."""
    from pyspark.sql import functions as F

    columns = df.columns
    rows = df.select(*[F.col(c).cast("string").alias(c) for c in columns]).limit(limit).collect()

    def cell(value) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def column_schema(df) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, f.dataType.simpleString()) for f in df.schema.fields])


@dataclass
class CleanedDay:
    results: list[dg.AssetCheckResult]
    metadata: dict
    failure: str | None  # why the day was not committed (a blocking check failed)


def clean_and_commit(context, lake: LakeResource, spark, entity: str, date: str) -> CleanedDay:
    """Clean one day and, when its blocking checks pass, replace its lake partition atomically.
    Everything that can fail (checks, counts, preview) runs before the commit."""
    clean, rejects, raw_records, n_files = clean_day(spark, lake, entity, date)
    clean, out_of_domain = clean.drop(OUT_OF_DOMAIN_COLUMN), out_of_domain_counts(clean)
    blocking = {s.name for s in cleaned_check_specs(entity) if s.blocking}
    table, rejects_table = cleaned_table(lake, entity), cleaned_table(lake, entity, rejects=True)
    with DayCommit(spark, lake, f"cleaned_{entity}", date) as day:
        day.write(clean, table)
        day.write(rejects, rejects_table, step="rejects")
        # the checks judge the rows on the audit branch, which is what readers will get
        results = evaluate_cleaned_checks(entity, day.staged(table), raw_records)
        crash_point("after_checks")
        failed = [r for r in results if r.check_name in blocking and not r.passed]
        if not failed:
            metadata = cleaned_metadata(entity, clean, rejects, raw_records, n_files, out_of_domain)
            metadata.update({"table": table, "rejects_table": rejects_table})
            day.publish()
    if failed:
        return CleanedDay(results, {}, (
            f"cleaned_{entity} {date}: blocking check(s) {', '.join(r.check_name for r in failed)} "
            f"failed ({'; '.join(str(dict((k, v.value) for k, v in r.metadata.items())) for r in failed)}); "
            "readers keep the previous rows of the day (nothing was published)"))
    return CleanedDay(results, metadata, None)


def out_of_domain_counts(clean) -> dict[str, int]:
    """{field: rows whose value was set to NULL for being outside the field's Domain}."""
    from pyspark.sql import functions as F

    exploded = clean.select(F.explode(OUT_OF_DOMAIN_COLUMN).alias("field"))
    return {r["field"]: r["count"] for r in exploded.groupBy("field").count().collect()}


def cleaned_metadata(entity: str, clean, rejects, raw_records: int, n_files: int,
                     out_of_domain: dict[str, int]) -> dict:
    """The cleaned partition's metadata (counts, schema, preview), computed before its commit."""
    from pyspark.sql import functions as F

    spec = registry.entity(entity)
    columns = spec.columns
    reasons = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
    rows = clean.count()
    nulls = clean.agg(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in columns]).first()
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(clean),
        "raw_records": raw_records,
        "raw_files": n_files,
        "duplicates_dropped": raw_records - sum(reasons.values()) - rows,
        "rejects": sum(reasons.values()),
        "rejects_by_reason": dg.MetadataValue.json(reasons),
        "nulls_per_column": dg.MetadataValue.json({c: nulls[c] or 0 for c in columns}),
        "out_of_domain": dg.MetadataValue.json(
            {c: {"nulled": n, "domain": spec.domains[c].describe()} for c, n in sorted(out_of_domain.items())}),
        "preview": dg.MetadataValue.md(markdown_preview(clean.select(*columns))),
    }


def _plain(value):
    return value.value if isinstance(value, dg.MetadataValue) else value


def merge_check_results(by_day: dict[str, list[dg.AssetCheckResult]]) -> list[dg.AssetCheckResult]:
    """One result per check for a run of several days: passed when every day passed; the
    metadata of each day under ``days`` and the failing days under ``failed_days``."""
    merged: dict[str, list[tuple[str, dg.AssetCheckResult]]] = {}
    for date, results in by_day.items():
        for result in results:
            merged.setdefault(result.check_name, []).append((date, result))
    return [
        dg.AssetCheckResult(
            check_name=name,
            passed=all(r.passed for _, r in pairs),
            severity=pairs[0][1].severity,
            metadata={
                "days": dg.MetadataValue.json({d: {k: _plain(v) for k, v in r.metadata.items()} for d, r in pairs}),
                "failed_days": dg.MetadataValue.json([d for d, r in pairs if not r.passed]),
            },
        )
        for name, pairs in merged.items()
    ]


def range_metadata(by_day: dict[str, dict]) -> dict:
    """The materialization metadata of a run of several days: totals and each day's numbers."""
    total = {k: sum(m[k] for m in by_day.values())
             for k in ("dagster/row_count", "raw_records", "raw_files", "duplicates_dropped", "rejects")}
    return {
        **total,
        "days": dg.MetadataValue.json({d: {"rows": m["dagster/row_count"], "raw_records": m["raw_records"],
                                           "rejects": m["rejects"]} for d, m in by_day.items()}),
    }


def build_cleaned_asset(entity: str) -> dg.AssetsDefinition:
    spec = registry.entity(entity)
    key, columns = spec.key, spec.columns

    @dg.asset(
        name=spec.cleaned_asset,
        group_name=registry.GROUP,
        partitions_def=daily_partitions,
        backfill_policy=DAILY_BACKFILL_POLICY,
        deps=[spec.raw_asset],
        io_manager_key="lake_io_manager",
        kinds={"spark", "iceberg"},
        owners=registry.OWNERS,
        check_specs=cleaned_check_specs(entity),
        description=(
            f"Cleaned `{entity}` records of one UTC day (Iceberg table `lake.pinterest.cleaned_{entity}`, "
            f"partitioned by `date`, one row per `{key}`, newest event wins); rejects in "
            f"`lake.pinterest.cleaned_{entity}_rejects`; published after the blocking checks "
            f"(write-audit-publish). Columns: "
            f"{', '.join(columns)} + Kafka lineage (_topic, _partition, _offset, _timestamp, _order)."
        ),
        metadata={"key": key, "partitioned_by": "UTC date of the Kafka timestamp"},
    )
    def _cleaned(context: dg.AssetExecutionContext, lake: LakeResource, pyspark: LazyPySparkResource):
        days = {date: clean_and_commit(context, lake, pyspark.spark_session, entity, date)
                for date in context.partition_keys}
        failed = {date: day.failure for date, day in days.items() if day.failure}
        if len(days) == 1:
            (day,) = days.values()
            results, metadata = day.results, day.metadata
        else:
            results = merge_check_results({date: day.results for date, day in days.items()})
            metadata = range_metadata({date: day.metadata for date, day in days.items() if not day.failure})
        if failed:
            yield from results
            raise dg.Failure("; ".join(failed.values()))
        yield dg.Output(None, metadata=metadata)  # written and committed above
        yield from results

    return _cleaned


def build_cleaned_assets() -> list[dg.AssetsDefinition]:
    return [build_cleaned_asset(name) for name in registry.names()]
