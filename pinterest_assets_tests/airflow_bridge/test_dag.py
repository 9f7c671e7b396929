"""The DAG file and the logic module behind it (no services needed)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest


def core_timetable(dag):
    """The scheduler's view of the DAG's timetable."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "pinterest_daily_batch" in dagbag.dags


def test_schedule_is_daily_at_midnight_utc_with_data_intervals(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["pinterest_daily_batch"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    core = core_timetable(dag)
    assert core.summary == "0 0 * * *"
    assert str(core._timezone) in ("UTC", "Timezone('UTC')")
    assert dag.catchup is False


def test_run_at_midnight_processes_the_previous_day(dagbag):
    import pendulum

    from pinterest_bridge.dagster_runs import partition_for

    dag = dagbag.dags["pinterest_daily_batch"]
    interval = core_timetable(dag).infer_manual_data_interval(run_after=pendulum.datetime(2026, 3, 2, 0, 0, tz="UTC"))
    assert (interval.start, interval.end) == (pendulum.datetime(2026, 3, 1, tz="UTC"),
                                              pendulum.datetime(2026, 3, 2, tz="UTC"))
    assert partition_for(interval.start) == "2026-03-01"


def test_tasks_launch_then_wait_in_reschedule_mode(dagbag):
    dag = dagbag.dags["pinterest_daily_batch"]
    assert set(dag.task_ids) == {"launch", "wait"}
    wait = dag.get_task("wait")
    assert wait.upstream_task_ids == {"launch"}
    assert wait.mode == "reschedule"
    assert wait.timeout > 0


def test_manual_partition_param_wins():
    from pinterest_bridge.dagster_runs import partition_for

    start = datetime(2026, 5, 6, tzinfo=timezone.utc)
    assert partition_for(start, {"partition": "2026-01-01"}) == "2026-01-01"
    assert partition_for(start, {"partition": None}) == "2026-05-06"
    assert partition_for(start, None) == "2026-05-06"


def test_dagster_url_from_connection_then_env_then_default(monkeypatch, airflow_home):
    from airflow.sdk import Connection

    from pinterest_bridge.dagster_runs import resolve_dagster_url

    conn = Connection(conn_id="dagster_default", conn_type="http", host="dagster.internal", port=3001)
    assert resolve_dagster_url(conn) == "http://dagster.internal:3001"
    https = Connection(conn_id="dagster_default", conn_type="http", host="https://dagster.example.com")
    assert resolve_dagster_url(https) == "https://dagster.example.com"
    monkeypatch.setenv("PINTEREST_DAGSTER_URL", "http://10.0.0.5:3000/")
    assert resolve_dagster_url(None) == "http://10.0.0.5:3000"
    monkeypatch.delenv("PINTEREST_DAGSTER_URL")
    assert resolve_dagster_url(None) == "http://127.0.0.1:3000"


def test_unreachable_dagster_is_a_clear_error():
    from pinterest_bridge.dagster_runs import DagsterClient, DagsterError

    client = DagsterClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(DagsterError, match=r"cannot reach Dagster at http://127.0.0.1:9/graphql"):
        client.status("abc")
