"""The lake Parquet IO manager: Spark DataFrames in, Spark DataFrames out, one folder per partition,
replaced atomically on ``file://`` and ``s3a://`` alike.

A partition folder (``<lake>/<asset path>/date=<partition>/``, or ``<lake>/<asset path>/`` for an
unpartitioned asset) is *versioned* (paths: :class:`~pinterest_assets.resources.lake.LakeLayout`):

1. Spark writes the new Parquet into a fresh version subfolder ``v=<utc time>-<random>/``. No reader
   looks there yet, so it does not matter that an S3 "rename" inside Spark's commit is a copy.
2. (cleaned assets) the rejects go to the same version under ``quarantine/cleaned/…``, and the
   checks run on the Parquet just written; a failing blocking check stops here.
3. The pointer ``_CURRENT`` (a few bytes of JSON naming the version) is written: a temp file + one
   ``rename`` on ``file://``, one PUT on S3. This is the commit: before it, readers see the old
   version whole; after it, the new one whole.
4. Versions older than the committed one are deleted (with Parquet written before versioning).

A crash at any step leaves a valid pointer; whatever it left behind is an unreferenced version
folder that the next successful write deletes. A write that fails before the commit deletes its own
version folders. Writers of one folder on one machine are serialized with a lock file; across
machines the last pointer written wins, and cleanup never deletes a version newer than its own nor
the one the pointer names.

An empty DataFrame still writes a file holding the schema, so an empty day reads back as zero rows
with the right columns. An output covering several days (a single-run backfill) carries a ``date``
column; each day's rows replace that day's folder, one atomic replace per day. ``load_input`` follows the pointers: one partition reads back as it was
written; a range of partitions comes back with a ``date`` column. :func:`read_cleaned` and
:func:`read_cleaned_rejects` do the same for tools (reconcile, the demo, tests).

Test-only hook: with ``PINTEREST_TEST_CRASH_AT=<step>`` in the environment, the process kills itself
(SIGKILL) right after that step of a partition write (:data:`CRASH_STEPS`).
"""


import fcntl
import logging
import os
import re
import signal
import sys

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets.resources.lake import LAYOUT, PARTITION_COLUMN, LakeResource

log = logging.getLogger(__name__)

CRASH_ENV = "PINTEREST_TEST_CRASH_AT"
CRASH_STEPS = ("after_data", "after_rejects", "after_checks", "after_pointer", "after_cleanup")


def crash_point(step: str) -> None:
    """Test-only: SIGKILL this process here when ``PINTEREST_TEST_CRASH_AT`` names `step`."""
    if os.environ.get(CRASH_ENV) == step:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _hadoop_fs(spark, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def _delete(spark, uri: str) -> None:
    fs, path = _hadoop_fs(spark, uri)
    if fs.exists(path) and not fs.delete(path, True):
        raise OSError(f"could not delete {uri}")


def _is_legacy_data_file(name: str) -> bool:
    """A file Spark wrote straight into a partition folder before versioning (data, CRC, marker)."""
    if name.startswith("."):
        return name.endswith(".crc")
    return name == "_SUCCESS" or not name.startswith("_")


class PartitionWriter:
    """One atomic replace of a versioned lake folder, and of companion folders sharing its version.

    ::

        with PartitionWriter(spark, lake, "cleaned_pin/date=2026-01-01") as unit:
            unit.write(clean)                                         # the data
            unit.write(rejects, "quarantine/cleaned/pin/date=2026-01-01", step="rejects")
            ...                                                       # checks on the data
            unit.commit(rows=10)                                      # pointer, then cleanup

    Leaving the block without :meth:`commit` (an exception, a failed check) deletes what was
    written and leaves the previous version current.
    """

    def __init__(self, spark, lake: LakeResource, folder: str):
        self.spark, self.lake, self.folder = spark, lake, folder.strip("/")
        self.version = LAYOUT.new_version()
        self.folders: list[str] = []  # folders this unit wrote a version of
        self.committed = False
        self._lock = None

    def __enter__(self) -> "PartitionWriter":
        name = "partition-" + re.sub(r"[^A-Za-z0-9=._-]", "+", self.folder)
        self._lock = open(self.lake.local_lock_path(name), "w")  # noqa: SIM115 - held until __exit__
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if not self.committed:
                self.discard()
        finally:
            if self._lock is not None:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
                self._lock = None

    def uri(self, folder: str | None = None) -> str:
        """URI of this unit's version of `folder` (default: the main folder)."""
        return self.lake.uri_of(LAYOUT.version(folder or self.folder, self.version))

    def write(self, df, folder: str | None = None, step: str = "data") -> str:
        """Write `df` as Parquet into this unit's version of `folder`; returns its URI."""
        folder = (folder or self.folder).strip("/")
        if self.committed:
            raise RuntimeError(f"{self.folder} is already committed")
        self.folders.append(folder)
        uri = self.uri(folder)
        df.write.mode("errorifexists").parquet(uri)
        crash_point(f"after_{step}")
        return uri

    def commit(self, **info) -> None:
        """Make this version current (the pointer write), then delete the older versions."""
        if self.folder not in self.folders:
            raise RuntimeError(f"nothing written to {self.folder}: write the data before committing")
        self.lake.write_text(LAYOUT.pointer(self.folder), LAYOUT.pointer_text(self.version, **info))
        self.committed = True
        crash_point("after_pointer")
        self.cleanup()
        crash_point("after_cleanup")

    def cleanup(self) -> None:
        """Delete versions of this unit's folders older than this one (never the current one).

        A failure here is logged, not raised: the new version is committed already, and the next
        write deletes what is left."""
        try:
            current = self.lake.current_version(self.folder)
            for folder in dict.fromkeys(self.folders):
                remove_old_versions(self.spark, self.lake, folder, keep=current, before=self.version)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not delete old versions of %s (the next write retries): %s",
                        self.lake.uri_of(self.folder), exc)

    def discard(self) -> None:
        """Delete what this unit wrote (best effort; leftovers are unreferenced and deleted later)."""
        for folder in dict.fromkeys(self.folders):
            try:
                _delete(self.spark, self.uri(folder))
            except Exception as exc:  # noqa: BLE001
                log.warning("could not delete the uncommitted %s: %s", self.uri(folder), exc)


def remove_old_versions(spark, lake: LakeResource, folder: str, keep: str | None, before: str) -> list[str]:
    """Delete the version subfolders of `folder` that sort before `before`, except `keep`, and the
    Parquet written straight into it before versioning; returns the names deleted."""
    fs, path = _hadoop_fs(spark, lake.uri_of(folder))
    if not fs.exists(path):
        return []
    deleted = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if status.isDirectory():
            doomed = LAYOUT.is_version(name) and name != keep and name < before
        else:
            doomed = bool(keep) and _is_legacy_data_file(name)
        if doomed:
            fs.delete(status.getPath(), True)
            deleted.append(name)
    return deleted


def read_partitions(spark, uris: dict[str, str]):
    """One DataFrame of several partitions' data ({date: URI of its committed version}), with a
    ``date`` column (DateType) taken from each file's path; None when `uris` is empty."""
    from pyspark.sql import functions as F

    if not uris:
        return None
    df = spark.read.parquet(*uris.values())
    pattern = rf".*/{PARTITION_COLUMN}=([^/]+)/"
    return df.withColumn(PARTITION_COLUMN,
                         F.to_date(F.regexp_extract(F.col("_metadata.file_path"), pattern, 1)))


def read_cleaned(spark, lake: LakeResource, entity: str, dates=None):
    """The committed cleaned Parquet of `entity` (every day, or `dates`) with a ``date`` column;
    None when no day is committed."""
    return read_partitions(spark, lake.cleaned_partition_uris(entity, dates))


def read_cleaned_rejects(spark, lake: LakeResource, entity: str, dates=None):
    """The rejects belonging to the committed cleaned days of `entity`, with a ``date`` column;
    None when there are none."""
    return read_partitions(spark, lake.cleaned_rejects_uris(entity, dates))


class LakeParquetIOManager(dg.ConfigurableIOManager):
    """Spark DataFrames as Parquet in the lake, ``<lake>/<asset path>/date=<partition>/v=<version>/``
    behind the pointer ``…/date=<partition>/_CURRENT`` (see the module docstring)."""

    lake: dg.ResourceDependency[LakeResource]
    pyspark: dg.ResourceDependency[LazyPySparkResource]

    @staticmethod
    def folder(asset_key: dg.AssetKey, partition_key: str | None = None) -> str:
        """Lake path of an asset's (partition's) versioned folder."""
        return LAYOUT.asset(asset_key.path, partition_key)

    def asset_uri(self, asset_key: dg.AssetKey, partition_key: str | None = None) -> str:
        return self.lake.uri_of(self.folder(asset_key, partition_key))

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        from pyspark.sql import DataFrame

        if obj is None:
            return  # an asset that wrote its data itself
        if not isinstance(obj, DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; the lake IO "
                "manager stores Spark DataFrames only"
            )
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        if len(keys) > 1:  # a single-run backfill: the frame's `date` column splits it into days
            return self._handle_days(context, obj, keys)
        partition = keys[0]
        if partition is not None and PARTITION_COLUMN in obj.columns:
            raise ValueError(
                f"{context.asset_key.to_user_string()} has a column named {PARTITION_COLUMN!r}, "
                "which the lake layout uses for the partition folder: rename it"
            )
        with PartitionWriter(self.pyspark.spark_session, self.lake, self.folder(context.asset_key, partition)) as unit:
            uri = unit.write(obj)
            unit.commit(run_id=context.run_id)
        context.add_output_metadata({"uri": dg.MetadataValue.path(uri), "version": unit.version})

    def _handle_days(self, context: dg.OutputContext, obj, keys: list[str]) -> None:
        """Several days in one output: each day's rows (by the ``date`` column) replace that day's
        folder atomically, one day after the other; a row of another day fails before any write."""
        from pyspark.sql import functions as F

        name = context.asset_key.to_user_string()
        if PARTITION_COLUMN not in obj.columns:
            raise ValueError(f"{name}: an output of {len(keys)} days needs a {PARTITION_COLUMN!r} column "
                             "saying each row's day")
        day = F.date_format(F.col(PARTITION_COLUMN).cast("date"), "yyyy-MM-dd")
        outside = obj.where(day.isNull() | ~day.isin(*keys)).limit(1).collect()
        if outside:
            raise ValueError(f"{name}: a row of {outside[0][PARTITION_COLUMN]!r}, not one of the run's days "
                             f"{keys[0]}..{keys[-1]}")
        versions = {}
        for key in keys:
            with PartitionWriter(self.pyspark.spark_session, self.lake, self.folder(context.asset_key, key)) as unit:
                unit.write(obj.where(day == key).drop(PARTITION_COLUMN))
                unit.commit(run_id=context.run_id)
            versions[key] = unit.version
        context.add_output_metadata({"versions": dg.MetadataValue.json(versions)})

    def load_input(self, context: dg.InputContext):
        spark = self.pyspark.spark_session
        key = context.asset_key
        keys = context.asset_partition_keys if context.has_asset_partitions else [None]
        found, missing = {}, []
        for pk in keys:
            path = self.lake.current_path(self.folder(key, pk))
            if path is None:
                missing.append(self.asset_uri(key, pk))
            else:
                found[pk] = self.lake.uri_of(path)
        if missing:
            raise dg.Failure(
                f"no data for {key.to_user_string()} at {', '.join(missing)}: materialize "
                f"{key.to_user_string()} for that partition first"
            )
        if len(found) == 1:
            return spark.read.parquet(next(iter(found.values())))
        return read_partitions(spark, found)
