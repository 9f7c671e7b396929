"""Jobs: `ingest_job` (landing + the streamed pin table) and `daily_batch_job` (one UTC day).

Both build their selections from the entity registry (raw_*, cleaned_*, *_table per entity),
so an entity added to the registry joins them without an edit here.
"""

from __future__ import annotations

import dagster as dg

from pinterest_assets import entities as registry


def raw_keys() -> list[str]:
    return [e.raw_asset for e in registry.ENTITIES.values()]


def build_ingest_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "ingest_job",
        selection=dg.AssetSelection.assets(*raw_keys(), "pin_stream"),
        description="Land every new Kafka message in the lake (raw_*) and upsert new pins into pin_stream.",
        # retried by the daemon (dagster.yaml run_retries): landing and the stream are idempotent,
        # and the sensor has moved its cursor past these messages, so nothing else would rerun it
        tags={"pinterest/kind": "ingest", "dagster/max_retries": "3", "dagster/retry_strategy": "ALL_STEPS"},
    )


def build_daily_batch_job() -> dg.UnresolvedAssetJobDefinition:
    entities = registry.ENTITIES.values()
    return dg.define_asset_job(
        "daily_batch_job",
        # raw_* are unpartitioned (offset ranges) and the rest daily: Dagster runs both in one
        # run (the unpartitioned steps in full), so the landing the day needs is a real raw_*
        # materialization upstream of cleaned_* in the same run, visible in the lineage.
        selection=dg.AssetSelection.assets(*[e.raw_asset for e in entities],
                                           *[e.cleaned_asset for e in entities],
                                           *[e.table_asset for e in entities]),
        description=(
            "One UTC day: land what Kafka holds that the lake lacks (raw_*), clean the day's raw "
            "events into Iceberg tables (cleaned_*) and load them into Postgres (*_table)."
        ),
        tags={"pinterest/kind": "daily"},
        # one process, one SparkSession for the six steps: the multiprocess default would start a
        # Spark JVM per step (4 GB driver each) on a 2-core machine
        executor_def=dg.in_process_executor,
    )
