"""Jobs: `ingest_job` (landing + the streamed pin table) and `daily_batch_job` (one UTC day)."""

from __future__ import annotations

import dagster as dg

from pinterest_assets.settings import ENTITIES

RAW_KEYS = [f"raw_{e}" for e in ENTITIES]
CLEANED_KEYS = [f"cleaned_{e}" for e in ENTITIES]
TABLE_KEYS = [f"{e}_table" for e in ENTITIES]
STREAM_KEYS = ["pin_stream"]

# daily_batch_job is partitioned like its assets (daily_partitions; Dagster infers it).
# Selected by key strings so this module needs no import of the assets (the Postgres side's
# assets live in their own modules); Definitions resolves them.
ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(*RAW_KEYS, *STREAM_KEYS),
    description="Land every new Kafka message in the lake (raw_*) and upsert new pins into pin_stream.",
    tags={"pinterest/kind": "ingest"},
)

daily_batch_job = dg.define_asset_job(
    "daily_batch_job",
    selection=dg.AssetSelection.assets(*CLEANED_KEYS, *TABLE_KEYS),
    description=(
        "One UTC day: land what Kafka still holds, clean the day's raw events into Parquet "
        "(cleaned_*) and load them into Postgres (*_table)."
    ),
    tags={"pinterest/kind": "daily"},
    # one process, one SparkSession for the six steps: the multiprocess default would start a
    # Spark JVM per step (4 GB driver each) on a 2-core machine
    executor_def=dg.in_process_executor,
)
