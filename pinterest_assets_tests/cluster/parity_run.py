"""One run of the pipeline for the parity test, in its own process (one SparkContext per process):
`ingest_job` (raw landing + pin_stream), then `daily_batch_job` for DATE, on the Spark master of
PINTEREST_SPARK_MASTER (default local[*]) and the lake of PINTEREST_LAKE_URI. Then it writes what
the run produced, as sorted JSON rows, to OUT: the cleaned Parquet of every entity and the Postgres
tables (pin_stream without its load time), plus the seconds each phase took.

    python -m pinterest_assets_tests.cluster.parity_run DATE CHECKPOINT_DIR OUT
"""

from __future__ import annotations

import json
import sys
import time

ENTITIES = ("pin", "geo", "user")
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}  # progress in the run log


def postgres_rows(dsn: str) -> dict[str, list[str]]:
    """Every row of the serving tables and pin_stream, as sorted JSON text (no load time)."""
    import psycopg

    out = {}
    with psycopg.connect(dsn) as conn:
        for table in [f"{e}_table" for e in ENTITIES] + ["pin_stream"]:
            rows = conn.execute(f"select (to_jsonb(t) - '_loaded_at')::text from pinterest.{table} t").fetchall()
            out[table] = sorted(r[0] for r in rows)
    return out


def main(date: str, checkpoint: str, out: str) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def phase(name: str, since: float) -> float:
        now = time.monotonic()
        timings[name] = round(now - since, 1)
        print(f"parity_run: {name} took {timings[name]:.1f}s", flush=True)
        return now

    import dagster as dg

    from pinterest_assets.definitions import defs
    from pinterest_assets.io_managers.lake import read_cleaned
    from pinterest_assets.resources.lake import LakeResource
    from pinterest_assets.resources.spark_session import build_spark_session
    from pinterest_assets.settings import get_settings

    definitions = defs()
    instance = dg.DagsterInstance.ephemeral()
    mark = phase("imports", started)
    ingest = definitions.resolve_job_def("ingest_job").execute_in_process(
        instance=instance, run_config={"ops": {"pin_stream": {"config": {"checkpoint_dir": checkpoint}}}, **QUIET})
    assert ingest.success, "ingest_job failed"
    mark = phase("ingest_job", mark)
    daily = definitions.resolve_job_def("daily_batch_job").execute_in_process(
        instance=instance, partition_key=date, run_config=QUIET)
    assert daily.success, "daily_batch_job failed"
    mark = phase("daily_batch_job", mark)

    settings = get_settings()
    spark = build_spark_session()
    lake = settings.lake.rstrip("/")
    result = {"master": spark.sparkContext.master, "app_id": spark.sparkContext.applicationId,
              "lake": lake, "cleaned": {}, "postgres": {}}
    for entity in ENTITIES:
        df = read_cleaned(spark, LakeResource.from_settings(settings), entity)  # committed versions, + date
        result["cleaned"][entity] = sorted(df.toJSON().collect())
    result["postgres"] = postgres_rows(settings.postgres_dsn)
    phase("read back", mark)
    timings["total"] = round(time.monotonic() - started, 1)
    result["timings"] = timings
    with open(out, "w") as handle:
        json.dump(result, handle)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
