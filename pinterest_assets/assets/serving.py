"""SQL-ready Postgres tables ``pinterest.<entity>_table``: the daily partitions of ``cleaned_<entity>``
of a run (one day, or a backfill's range), built by one factory from the entity registry.

Each asset loads its ``cleaned_<entity>`` partition from the lake (a Spark DataFrame, through the
``lake_io_manager``), keeps the entity's columns plus the Kafka lineage (renamed ``_kafka_*`` as
in ``pin_stream``), and hands it to the ``postgres_io_manager``, which replaces that day in
``pinterest.<asset name>`` atomically. Primary keys are ``(date, <key>)``: see
:mod:`pinterest_assets.io_managers.postgres` for why the date belongs in the key.
"""


import dagster as dg

from pinterest_assets import entities as registry
from pinterest_assets.partitions import DAILY_BACKFILL_POLICY, daily_partitions
from pinterest_assets.resources.lake import PARTITION_COLUMN


def serving_frame(cleaned, entity: str):
    """The cleaned frame as stored in Postgres: the entity's columns, then renamed Kafka lineage.

    Other underscore columns (``_line``, ``_raw``) are dropped. The ``date`` column the lake IO
    manager adds when a run covers several days is kept: it says the Postgres IO manager which
    day each row belongs to (one day: it uses the partition key).
    """
    from pyspark.sql import functions as F

    columns = registry.entity(entity).columns
    missing = [c for c in columns if c not in cleaned.columns]
    if missing:
        raise dg.Failure(f"cleaned_{entity} lacks the column(s) {missing}; got {cleaned.columns}")
    lineage = [F.col(src).alias(dst) for src, dst in registry.POSTGRES_LINEAGE.items()
               if src in cleaned.columns]
    day = [PARTITION_COLUMN] if PARTITION_COLUMN in cleaned.columns else []
    return cleaned.select(*day, *columns, *lineage)


def build_table_asset(entity: str) -> dg.AssetsDefinition:
    spec = registry.entity(entity)
    indexes = ", ".join(spec.indexes) or "none"

    @dg.asset(
        name=spec.table_asset,
        ins={"cleaned": dg.AssetIn(key=spec.cleaned_asset, input_manager_key="lake_io_manager")},
        partitions_def=daily_partitions,
        backfill_policy=DAILY_BACKFILL_POLICY,
        io_manager_key="postgres_io_manager",
        group_name=registry.GROUP,
        kinds={"spark", "postgres"},
        owners=registry.OWNERS,
        description=(
            f"Cleaned {spec.description or spec.name} of one UTC day in Postgres "
            f"`{registry.SCHEMA}.{spec.table_asset}`: primary key (date, {spec.key}), indexes on {indexes}."
        ),
        metadata={
            "table": f"{registry.SCHEMA}.{spec.table_asset}",
            "primary_key": spec.key,
            "indexes": list(spec.indexes),
            "partition_column": "date",
        },
    )
    def _table(cleaned):
        return serving_frame(cleaned, entity)

    return _table


def build_table_assets() -> list[dg.AssetsDefinition]:
    return [build_table_asset(name) for name in registry.names()]
