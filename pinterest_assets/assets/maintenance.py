"""lake_maintenance: the Iceberg tables' housekeeping, daily on ``lake_maintenance_schedule``.

For each cleaned table (data and rejects): compact small data files (``rewrite_data_files``), then
expire snapshots older than ``retain_days`` while keeping the last ``retain_last`` ones
(``expire_snapshots``, which deletes the files only they referenced, those of dropped audit branches
included), then delete files no snapshot references that are older than three days
(``remove_orphan_files``: what a writer killed before its commit left). Time travel reaches back
as far as the snapshots kept.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from pinterest_assets import entities as registry
from pinterest_assets.io_managers.lake import cleaned_table, table_exists, use_catalog
from pinterest_assets.resources.lake import LakeResource


class MaintenanceConfig(dg.Config):
    retain_days: int = 7
    retain_last: int = 10
    min_input_files: int = 5
    orphan_days: int = 3


def maintain_table(spark, table: str, config: MaintenanceConfig) -> dict:
    """Compact, expire and clean one table; the procedures' counts."""
    catalog, ident = table.split(".", 1)
    now = datetime.now(UTC).replace(tzinfo=None)
    expire_before = (now - timedelta(days=config.retain_days)).isoformat(sep=" ")
    orphans_before = (now - timedelta(days=config.orphan_days)).isoformat(sep=" ")
    rewrite = spark.sql(
        f"CALL {catalog}.system.rewrite_data_files(table => '{ident}', "
        f"options => map('min-input-files', '{config.min_input_files}'))").first()
    expire = spark.sql(
        f"CALL {catalog}.system.expire_snapshots(table => '{ident}', "
        f"older_than => TIMESTAMP '{expire_before}', retain_last => {config.retain_last})").first()
    orphans = spark.sql(
        f"CALL {catalog}.system.remove_orphan_files(table => '{ident}', "
        f"older_than => TIMESTAMP '{orphans_before}')").count()
    return {
        "rewritten_files": rewrite["rewritten_data_files_count"],
        "added_files": rewrite["added_data_files_count"],
        "expired_data_files": expire["deleted_data_files_count"],
        "expired_manifests": expire["deleted_manifest_files_count"],
        "orphan_files_removed": orphans,
        "snapshots_left": spark.sql(f"SELECT count(*) FROM {table}.snapshots").first()[0],
    }


@dg.asset(
    name="lake_maintenance",
    group_name=registry.GROUP,
    deps=[e.cleaned_asset for e in registry.ENTITIES.values()],
    kinds={"spark", "iceberg"},
    owners=registry.OWNERS,
    description=("Housekeeping of the cleaned Iceberg tables: compact small files, expire old "
                 "snapshots (time travel keeps `retain_days`), remove orphan files."),
)
def lake_maintenance(context: dg.AssetExecutionContext, config: MaintenanceConfig, lake: LakeResource,
                     pyspark: LazyPySparkResource) -> dg.MaterializeResult:
    spark = pyspark.spark_session
    use_catalog(spark, lake)
    done = {}
    for entity in registry.names():
        for rejects in (False, True):
            table = cleaned_table(lake, entity, rejects)
            if table_exists(spark, lake, table):
                done[table] = maintain_table(spark, table, config)
                context.log.info("%s: %s", table, done[table])
    return dg.MaterializeResult(metadata={"tables": dg.MetadataValue.json(done)})


lake_maintenance_job = dg.define_asset_job(
    "lake_maintenance_job", selection=[lake_maintenance.key], tags={"pinterest/kind": "maintenance"},
    executor_def=dg.in_process_executor)

lake_maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_schedule", job=lake_maintenance_job, cron_schedule="0 3 * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="lake_maintenance daily at 03:00 UTC.")
