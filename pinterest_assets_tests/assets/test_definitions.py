"""The code location: loads lazily, has the raw -> cleaned -> table graph, jobs, schedule, sensor."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from pinterest_assets.settings import project_root


def load_defs() -> dg.Definitions:
    from pinterest_assets.definitions import defs

    return defs()


def parents(graph, key: str) -> set[str]:
    return {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}


def test_graph_has_raw_to_cleaned_to_table_edges():
    graph = load_defs().resolve_asset_graph()
    for entity in ("pin", "geo", "user"):
        assert parents(graph, f"raw_{entity}") == {f"kafka_pinterest_{entity}"}
        assert "kafka" in graph.get(dg.AssetKey(f"kafka_pinterest_{entity}")).kinds
        assert parents(graph, f"cleaned_{entity}") == {f"raw_{entity}"}
        assert parents(graph, f"{entity}_table") == {f"cleaned_{entity}"}
        assert graph.get(dg.AssetKey(f"cleaned_{entity}")).partitions_def is not None
    assert parents(graph, "pin_stream") == {"kafka_pinterest_pin"}
    assert parents(graph, "lake_maintenance") == {"cleaned_pin", "cleaned_geo", "cleaned_user"}
    assert "iceberg" in graph.get(dg.AssetKey("cleaned_pin")).kinds
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("cleaned_pin", "key_not_null_and_unique") in checks
    assert ("cleaned_pin", "category_known") in checks


def test_jobs_select_the_right_assets():
    defs = load_defs()
    ingest = defs.resolve_job_def("ingest_job")
    daily = defs.resolve_job_def("daily_batch_job")
    keys = lambda job: {k.to_user_string() for k in job.asset_layer.executable_asset_keys}  # noqa: E731
    assert keys(ingest) == {"raw_pin", "raw_geo", "raw_user", "pin_stream"}
    assert keys(daily) == {"raw_pin", "raw_geo", "raw_user", "cleaned_pin", "cleaned_geo", "cleaned_user", "pin_table", "geo_table", "user_table"}
    assert daily.partitions_def is not None


def test_lake_maintenance_runs_daily_on_its_own_job():
    defs = load_defs()
    schedule = defs.resolve_schedule_def("lake_maintenance_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 3 * * *" and schedule.job_name == "lake_maintenance_job"
    job = defs.resolve_job_def("lake_maintenance_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"lake_maintenance"}


def test_schedule_is_stopped_and_runs_yesterday():
    defs = load_defs()
    schedule = defs.resolve_schedule_def("daily_batch_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.cron_schedule == "0 0 * * *" and schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
                                        repository_def=defs.get_repository_def())
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-01" and request.run_key == "2026-03-01"


def test_sensor_and_resources_are_wired():
    defs = load_defs()
    assert defs.resolve_sensor_def("kafka_new_events_sensor").job_name == "ingest_job"
    assert {"kafka", "lake", "pyspark", "postgres", "lake_io_manager", "postgres_io_manager"} <= set(defs.resources)


def test_environment_is_read_when_defs_is_built_not_at_import(monkeypatch, tmp_path):
    import pinterest_assets.definitions  # noqa: F401  (imported with the old environment)

    monkeypatch.setenv("PINTEREST_LAKE_URI", "s3a://some-bucket/lake")
    monkeypatch.setenv("PINTEREST_KAFKA_BOOTSTRAP", "broker.example:9092")
    resources = load_defs().resources
    assert resources["lake"].uri == "s3a://some-bucket/lake"
    assert resources["kafka"].bootstrap_servers == "broker.example:9092"


def test_dagster_definitions_validate_passes(tmp_path):
    # from a neutral folder: the project's dagster.yaml needs the stack's instance variables
    env = {**os.environ, "PYTHONPATH": str(project_root()), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "pinterest_assets.definitions"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_defs_load_without_a_stack(monkeypatch, tmp_path):
    """No Kafka, Spark jars or Postgres needed to load the code location (the UI must come up)."""
    monkeypatch.setenv("PINTEREST_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("PINTEREST_JARS_DIR", str(tmp_path / "no-jars"))
    defs = load_defs()
    assert defs.resolve_job_def("daily_batch_job")
