"""The code location: every asset, check, job, schedule, sensor, resource and IO manager, one hop
from here. Env-aware and lazy: nothing reads the environment or starts Spark at import time;
resources are configured when Dagster builds the Definitions.

The asset graph (per entity of :mod:`pinterest_assets.entities`)::

    kafka_<topic> (external) ──▶ raw_<entity> ──▶ cleaned_<entity> ──▶ <entity>_table
    kafka_pinterest_pin ──▶ pin_stream
    cleaned_* ──▶ lake_maintenance (daily: compaction, snapshot expiry)

Resource keys (the contract between the lake side and the Postgres side):

- ``kafka`` KafkaResource, ``lake`` LakeResource, ``pyspark`` SparkResource (a LazyPySparkResource
  built by the project's session factory on first use), ``postgres`` PostgresResource;
- IO managers ``lake_io_manager`` (Spark DataFrames <-> Iceberg tables of the lake) and
  ``postgres_io_manager`` (Spark DataFrames -> ``pinterest.<asset>`` tables).
"""

from __future__ import annotations

import dagster as dg

from pinterest_assets.assets.analytics import add_analytics
from pinterest_assets.assets.cleaned import build_cleaned_assets
from pinterest_assets.assets.maintenance import lake_maintenance, lake_maintenance_job, lake_maintenance_schedule
from pinterest_assets.assets.raw import build_raw_assets, build_topic_specs
from pinterest_assets.assets.serving import build_table_assets
from pinterest_assets.assets.streamed import pin_stream
from pinterest_assets.io_managers.lake import LakeTableIOManager
from pinterest_assets.io_managers.postgres import PostgresIOManager
from pinterest_assets.jobs import build_daily_batch_job, build_ingest_job
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.resources.postgres import PostgresResource
from pinterest_assets.resources.spark_resource import SparkResource
from pinterest_assets.schedules import build_daily_batch_schedule
from pinterest_assets.sensors import build_kafka_new_events_sensor, build_late_data_sensor
from pinterest_assets.settings import get_settings


def build_resources(settings=None) -> dict:
    """Every resource of the code location, configured from `settings` (default: the environment now)."""
    settings = settings or get_settings()
    lake = LakeResource.from_settings(settings)
    spark = SparkResource()
    postgres = PostgresResource.from_settings(settings)
    return {
        "kafka": KafkaResource.from_settings(settings),
        "lake": lake,
        "pyspark": spark,
        "postgres": postgres,
        "lake_io_manager": LakeTableIOManager(lake=lake, pyspark=spark),
        "postgres_io_manager": PostgresIOManager(postgres=postgres, pyspark=spark),
    }


def build_defs(settings=None) -> dg.Definitions:
    """The Definitions for the entities registered now (tests add a throwaway entity this way)."""
    daily_batch_job = build_daily_batch_job()
    ingest_job = build_ingest_job()
    return add_analytics(dg.Definitions(  # + dbt marts, report, freshness policies
        assets=[*build_topic_specs(), *build_raw_assets(), *build_cleaned_assets(),
                *build_table_assets(), pin_stream, lake_maintenance],
        jobs=[ingest_job, daily_batch_job, lake_maintenance_job],
        schedules=[build_daily_batch_schedule(daily_batch_job), lake_maintenance_schedule],
        sensors=[build_kafka_new_events_sensor(job=ingest_job), build_late_data_sensor(job=daily_batch_job)],
        resources=build_resources(settings),
    ))


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
