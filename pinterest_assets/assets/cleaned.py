"""cleaned_pin, cleaned_geo, cleaned_user: one UTC day of landed raw events, cleaned by Spark.

A partition is the day of the events' Kafka timestamps. Before cleaning a day the asset lands
whatever Kafka holds that the lake lacks (landing is idempotent), so events produced before the
end of that day but not landed yet are not missed. It then reads that day's raw files, applies the
cleaning library (the same code as the stream), keeps the newest event per key and hands the
DataFrame to the lake Parquet IO manager (``<lake>/cleaned_<entity>/date=<day>/``). Rejects go to
``<lake>/quarantine/cleaned/<entity>/date=<day>/`` (Parquet: raw text, reason, Kafka lineage).
"""


import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets.assets.raw import (
    GROUP,
    OWNERS,
    RAW_ASSET_BY_ENTITY,
    land_topic,
    landed_files,
)
from pinterest_assets.checks import cleaned_check_specs, evaluate_cleaned_checks
from pinterest_assets.cleaning import CLEANERS, KEY_COLUMNS, OUTPUT_COLUMNS, latest_per_key, raw_frame_from_json
from pinterest_assets.io_managers.lake import replace_parquet_folder
from pinterest_assets.partitions import daily_partitions
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.settings import ENTITIES

PREVIEW_ROWS = 5
LINEAGE_SCHEMA = "_topic STRING, _partition INT, _offset BIGINT, _timestamp STRING"


def rejects_folder(entity: str, date: str) -> str:
    return f"quarantine/cleaned/{entity}/date={date}"


def read_raw_day(spark, lake: LakeResource, entity: str, date: str):
    """The day's landed raw records as (value text, _topic, _partition, _offset, _timestamp); and the file count."""
    from pyspark.sql import functions as F

    files = [f for f in landed_files(lake, entity, date) if not f.quarantine]
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
    return frame, len(files)


def clean_day(spark, lake: LakeResource, entity: str, date: str):
    """(clean newest-per-key DataFrame, rejects DataFrame, raw record count, raw file count) of one day."""
    raw_text, n_files = read_raw_day(spark, lake, entity, date)
    raw_text = raw_text.persist()
    raw_records = raw_text.count()
    clean, rejects = CLEANERS[entity](raw_frame_from_json(raw_text, col="value", entity=entity))
    return latest_per_key(clean, entity).persist(), rejects.persist(), raw_records, n_files


def markdown_preview(df, limit: int = PREVIEW_ROWS) -> str:
    rows = df.limit(limit).collect()
    columns = df.columns

    def cell(value) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def column_schema(df) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, f.dataType.simpleString()) for f in df.schema.fields])


def build_cleaned_asset(entity: str) -> dg.AssetsDefinition:
    key = KEY_COLUMNS[entity]

    @dg.asset(
        name=f"cleaned_{entity}",
        group_name=GROUP,
        partitions_def=daily_partitions,
        deps=[RAW_ASSET_BY_ENTITY[entity]],
        io_manager_key="lake_io_manager",
        kinds={"spark", "parquet"},
        owners=OWNERS,
        check_specs=cleaned_check_specs(entity),
        description=(
            f"Cleaned `{entity}` records of one UTC day (Parquet, one row per `{key}`, newest "
            f"event wins); rejects in `<lake>/quarantine/cleaned/{entity}/`. Columns: "
            f"{', '.join(OUTPUT_COLUMNS[entity])} + Kafka lineage (_topic, _partition, _offset, _timestamp)."
        ),
        metadata={"key": key, "partitioned_by": "UTC date of the Kafka timestamp"},
    )
    def _cleaned(context: dg.AssetExecutionContext, kafka: KafkaResource, lake: LakeResource,
                 pyspark: LazyPySparkResource):
        from pyspark.sql import functions as F

        date = context.partition_key
        landing = land_topic(kafka, lake, entity, log=context.log)
        if landing.total_records or landing.total_quarantined:
            context.log.info(f"landed {landing.total_records} late {entity} record(s) before cleaning")
        spark = pyspark.spark_session
        clean, rejects, raw_records, n_files = clean_day(spark, lake, entity, date)

        rejects_uri = replace_parquet_folder(spark, rejects, lake.uri_of(rejects_folder(entity, date)))
        reasons = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
        rows = clean.count()
        nulls = clean.agg(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in OUTPUT_COLUMNS[entity]]).first()
        metadata = {
            "dagster/row_count": rows,
            "dagster/column_schema": column_schema(clean),
            "raw_records": raw_records,
            "raw_files": n_files,
            "duplicates_dropped": raw_records - sum(reasons.values()) - rows,
            "rejects": sum(reasons.values()),
            "rejects_by_reason": dg.MetadataValue.json(reasons),
            "rejects_uri": dg.MetadataValue.path(rejects_uri),
            "nulls_per_column": dg.MetadataValue.json({c: nulls[c] or 0 for c in OUTPUT_COLUMNS[entity]}),
            "preview": dg.MetadataValue.md(markdown_preview(clean.select(*OUTPUT_COLUMNS[entity]))),
        }
        yield dg.Output(clean, metadata=metadata)
        yield from evaluate_cleaned_checks(entity, clean, raw_records)

    return _cleaned


cleaned_pin = build_cleaned_asset("pin")
cleaned_geo = build_cleaned_asset("geo")
cleaned_user = build_cleaned_asset("user")
CLEANED_ASSETS = [cleaned_pin, cleaned_geo, cleaned_user]
CLEANED_ASSET_BY_ENTITY = dict(zip(ENTITIES, CLEANED_ASSETS, strict=True))
