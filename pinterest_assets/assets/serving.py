"""SQL-ready Postgres tables: one daily partition of ``cleaned_<entity>`` per run.

Each asset loads its ``cleaned_<entity>`` partition from the lake (a Spark DataFrame, through the
``lake_io_manager``), keeps the entity's columns plus the Kafka lineage (renamed ``_kafka_*`` as
in ``pin_stream``), and hands it to the ``postgres_io_manager``, which replaces that day in
``pinterest.<asset name>`` atomically. Primary keys are ``(date, <key>)``: see
:mod:`pinterest_assets.io_managers.postgres` for why the date belongs in the key.
"""


import dagster as dg

from pinterest_assets.partitions import daily_partitions

OWNERS = ["team:data-engineering"]
KAFKA_LINEAGE = {
    "_topic": "_kafka_topic",
    "_partition": "_kafka_partition",
    "_offset": "_kafka_offset",
    "_timestamp": "_kafka_timestamp",
}


def serving_frame(cleaned, entity: str):
    """The cleaned frame as stored in Postgres: the entity's columns, then renamed Kafka lineage.

    Other underscore columns (``_line``, ``_raw``) and a ``date`` column from the lake layout are
    dropped; the IO manager adds ``date`` from the partition key.
    """
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import OUTPUT_COLUMNS

    missing = [c for c in OUTPUT_COLUMNS[entity] if c not in cleaned.columns]
    if missing:
        raise dg.Failure(f"cleaned_{entity} lacks the column(s) {missing}; got {cleaned.columns}")
    lineage = [F.col(src).alias(dst) for src, dst in KAFKA_LINEAGE.items() if src in cleaned.columns]
    return cleaned.select(*OUTPUT_COLUMNS[entity], *lineage)


def _table_metadata(entity: str, key: str, indexes: list) -> dict:
    return {
        "table": f"pinterest.{entity}_table",
        "primary_key": key,
        "indexes": indexes,
        "partition_column": "date",
    }


def _cleaned_in(entity: str) -> dict[str, dg.AssetIn]:
    # the lake IO manager reads cleaned_<entity> for the same day (identity partition mapping)
    return {f"cleaned_{entity}": dg.AssetIn(key=f"cleaned_{entity}", input_manager_key="lake_io_manager")}


_COMMON = dict(
    partitions_def=daily_partitions,
    io_manager_key="postgres_io_manager",
    group_name="pinterest",
    kinds={"spark", "postgres"},
    owners=OWNERS,
)


@dg.asset(
    ins=_cleaned_in("pin"),
    description=(
        "Cleaned pins of one UTC day in Postgres `pinterest.pin_table`: primary key (date, unique_id), "
        "tag_list as text[], follower_count bigint, indexes on category and poster_name."
    ),
    metadata=_table_metadata("pin", "unique_id", ["category", "poster_name"]),
    **_COMMON,
)
def pin_table(cleaned_pin):
    return serving_frame(cleaned_pin, "pin")


@dg.asset(
    ins=_cleaned_in("geo"),
    description=(
        "Cleaned geolocations of one UTC day in Postgres `pinterest.geo_table`: primary key (date, ind), "
        "timestamp as timestamptz, latitude/longitude double precision, index on country."
    ),
    metadata=_table_metadata("geo", "ind", ["country"]),
    **_COMMON,
)
def geo_table(cleaned_geo):
    return serving_frame(cleaned_geo, "geo")


@dg.asset(
    ins=_cleaned_in("user"),
    description=(
        "Cleaned users of one UTC day in Postgres `pinterest.user_table`: primary key (date, ind), "
        "user_name, age integer, date_joined timestamptz, index on age."
    ),
    metadata=_table_metadata("user", "ind", ["age"]),
    **_COMMON,
)
def user_table(cleaned_user):
    return serving_frame(cleaned_user, "user")


SERVING_ASSETS = [pin_table, geo_table, user_table]
