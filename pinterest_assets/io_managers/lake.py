"""The lake Parquet IO manager: Spark DataFrames in, Spark DataFrames out, one folder per partition.

``handle_output`` writes ``<lake>/<asset path>/date=<partition>/`` (or ``<lake>/<asset path>/``
for an unpartitioned asset) and replaces only that folder: Spark writes the new Parquet into a
staging folder next to it (``_staging/``, hidden from Spark's partition discovery), then the old
folder is deleted and the staging one renamed into place with Hadoop's FileSystem API — the same
code for ``file://`` and ``s3a://``. A failed write leaves the previous data untouched; an empty
DataFrame still writes a file holding the schema, so an empty day reads back as zero rows with
the right columns.

``load_input`` reads the upstream partition back as a Spark DataFrame (a range of partitions comes
back with a ``date`` column).
"""


import uuid

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets.resources.lake import LakeResource

PARTITION_COLUMN = "date"


def _hadoop_fs(spark, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def path_exists(spark, uri: str) -> bool:
    fs, path = _hadoop_fs(spark, uri)
    return bool(fs.exists(path))


def replace_parquet_folder(spark, df, target_uri: str) -> str:
    """Write `df` as Parquet to `target_uri`, replacing whatever was there only once the write succeeded."""
    parent, name = target_uri.rstrip("/").rsplit("/", 1)
    staging_uri = f"{parent}/_staging/{name}.{uuid.uuid4().hex}"
    fs, staging = _hadoop_fs(spark, staging_uri)
    _, target = _hadoop_fs(spark, target_uri)
    try:
        df.write.mode("errorifexists").parquet(staging_uri)
        if fs.exists(target) and not fs.delete(target, True):
            raise OSError(f"could not delete the previous data at {target_uri}")
        fs.mkdirs(target.getParent())
        if not fs.rename(staging, target):
            raise OSError(f"could not move {staging_uri} to {target_uri}")
    finally:
        if fs.exists(staging):
            fs.delete(staging, True)
    return target_uri


class LakeParquetIOManager(dg.ConfigurableIOManager):
    """Spark DataFrames as Parquet in the lake, ``<lake>/<asset path>/date=<partition>/``."""

    lake: dg.ResourceDependency[LakeResource]
    pyspark: dg.ResourceDependency[LazyPySparkResource]

    def asset_uri(self, asset_key: dg.AssetKey, partition_key: str | None = None) -> str:
        base = self.lake.uri_of("/".join(asset_key.path))
        return f"{base}/{PARTITION_COLUMN}={partition_key}" if partition_key else base

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        from pyspark.sql import DataFrame

        if obj is None:
            return  # an asset that wrote its data itself
        if not isinstance(obj, DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; the lake IO "
                "manager stores Spark DataFrames only"
            )
        partition = context.asset_partition_key if context.has_asset_partitions else None
        if partition is not None and PARTITION_COLUMN in obj.columns:
            raise ValueError(
                f"{context.asset_key.to_user_string()} has a column named {PARTITION_COLUMN!r}, "
                "which the lake layout uses for the partition folder: rename it"
            )
        uri = self.asset_uri(context.asset_key, partition)
        replace_parquet_folder(self.pyspark.spark_session, obj, uri)
        context.add_output_metadata({"uri": dg.MetadataValue.path(uri)})

    def load_input(self, context: dg.InputContext):
        spark = self.pyspark.spark_session
        key = context.asset_key
        if not context.has_asset_partitions:
            uris = [self.asset_uri(key)]
        else:
            uris = [self.asset_uri(key, pk) for pk in context.asset_partition_keys]
        missing = [u for u in uris if not path_exists(spark, u)]
        if missing:
            raise dg.Failure(
                f"no data for {key.to_user_string()} at {', '.join(missing)}: materialize "
                f"{key.to_user_string()} for that partition first"
            )
        if len(uris) == 1:
            return spark.read.parquet(uris[0])
        return spark.read.option("basePath", self.asset_uri(key)).parquet(*uris)
