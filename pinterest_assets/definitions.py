"""The code location: builds the Definitions (env-aware, lazy: nothing reads the environment or
starts Spark at import time; resources are configured when Dagster builds them).

Resource keys (the contract between the lake side and the Postgres side):

- ``kafka`` KafkaResource, ``lake`` LakeResource, ``pyspark`` SparkResource (a LazyPySparkResource
  built by the project's session factory on first use), ``postgres`` PostgresResource;
- IO managers ``lake_io_manager`` (Spark DataFrames <-> Parquet in the lake) and
  ``postgres_io_manager`` (Spark DataFrames -> ``pinterest.<asset>`` tables).
"""

from __future__ import annotations

import dagster as dg


def build_resources(settings=None) -> dict:
    """Every resource of the code location, configured from `settings` (default: the environment now)."""
    from pinterest_assets.io_managers.lake import LakeParquetIOManager
    from pinterest_assets.io_managers.postgres import PostgresIOManager
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets.resources.postgres import PostgresResource
    from pinterest_assets.resources.spark_resource import SparkResource
    from pinterest_assets.settings import get_settings

    settings = settings or get_settings()
    lake = LakeResource.from_settings(settings)
    spark = SparkResource()
    postgres = PostgresResource.from_settings(settings)
    return {
        "kafka": KafkaResource.from_settings(settings),
        "lake": lake,
        "pyspark": spark,
        "postgres": postgres,
        "lake_io_manager": LakeParquetIOManager(lake=lake, pyspark=spark),
        "postgres_io_manager": PostgresIOManager(postgres=postgres),
    }


@dg.definitions
def defs() -> dg.Definitions:
    from pinterest_assets.assets.cleaned import CLEANED_ASSETS
    from pinterest_assets.assets.raw import RAW_ASSETS
    from pinterest_assets.assets.serving import SERVING_ASSETS
    from pinterest_assets.assets.streamed import STREAM_ASSETS
    from pinterest_assets.jobs import daily_batch_job, ingest_job
    from pinterest_assets.schedules import daily_batch_schedule
    from pinterest_assets.sensors import kafka_new_events_sensor

    return dg.Definitions(
        assets=[*RAW_ASSETS, *CLEANED_ASSETS, *SERVING_ASSETS, *STREAM_ASSETS],
        jobs=[ingest_job, daily_batch_job],
        schedules=[daily_batch_schedule],
        sensors=[kafka_new_events_sensor],
        resources=build_resources(),
    )
