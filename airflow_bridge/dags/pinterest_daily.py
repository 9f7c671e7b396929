"""Daily batch: at 00:00 UTC on day D, Dagster's `daily_batch_job` runs for partition D-1.

Airflow stays the company scheduler; Dagster owns the assets and their lineage. Data intervals
(CronDataIntervalTimetable) make the run at 00:00 on D cover [D-1, D), so the partition is the
interval start. Configure with env PINTEREST_DAILY_CRON (the schedule) and the connection
`dagster_default` (or env PINTEREST_DAGSTER_URL): its host/port/schema, its password (with a
login: basic auth; without: a bearer token), extra `headers` and extra `verify` (true, false or a
CA bundle path). PINTEREST_DAGSTER_JOB names another job to launch,
PINTEREST_DAGSTER_WAIT_TIMEOUT (seconds) bounds the wait.

Parsing this file reads only the environment: the connection is looked up when a task runs, so
the dag-processor never queries Airflow's metadata database or secrets backend for it.

Missed days run when the scheduler is back (catchup), one run at a time (max_active_runs=1), from
start_date on: PINTEREST_DAILY_START_DATE (YYYY-MM-DD) if set, else today minus
PINTEREST_DAILY_CATCHUP_DAYS (default 3), so a first deploy does not start a run for every day
since some old date.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    # Airflow's dag-processor puts the DAG bundle folder on sys.path; a plain DagBag (for example
    # `airflow dags list-import-errors --local`) does not, and pinterest_bridge lives next to this file.
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))

from airflow.sdk import CronDataIntervalTimetable, Param, PokeReturnValue, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from pinterest_bridge.dagster_runs import (
    DAILY_JOB,
    DagsterClient,
    DagsterRunFailed,
    SettingError,
    check_run,
    daily_start_date,
    launch_or_reuse,
    partition_for,
    wait_timeout,
)

DEFAULT_CRON = "0 0 * * *"

# Settings are checked here, once per parse: a bad value is an import error of one clear line
# (naming the variable, its value and what is allowed), not a traceback from deep inside.
try:
    START_DATE = daily_start_date()
    WAIT_TIMEOUT = wait_timeout()
except SettingError as _exc:
    raise SettingError(str(_exc)) from None


def _client() -> DagsterClient:
    """Called by the tasks only (never at parse time)."""
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection("dagster_default")
    except AirflowNotFoundException:  # not defined: PINTEREST_DAGSTER_URL or the local default
        connection = None
    try:
        return DagsterClient.from_connection(connection)
    except SettingError as exc:  # a bad connection: retrying cannot help
        raise AirflowFailException(str(exc)) from None


@dag(
    dag_id="pinterest_daily_batch",
    schedule=CronDataIntervalTimetable(os.environ.get("PINTEREST_DAILY_CRON") or DEFAULT_CRON, timezone="UTC"),
    start_date=START_DATE,
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={"partition": Param(None, type=["null", "string"], format="date",
                               description="YYYY-MM-DD to process instead of the data interval's day")},
    tags=["pinterest", "dagster"],
    doc_md=__doc__,
)
def pinterest_daily_batch():
    @task
    def launch(params=None, data_interval_start=None, run_id=None) -> str:
        partition = partition_for(data_interval_start, params)
        job = os.environ.get("PINTEREST_DAGSTER_JOB", DAILY_JOB)
        run, reused = launch_or_reuse(_client(), partition, run_id, job_name=job)
        print(f"{'reusing' if reused else 'launched'} Dagster run {run.run_id} for partition {partition}: {run.url}")
        return run.run_id

    @task.sensor(poke_interval=15, timeout=WAIT_TIMEOUT,
                 mode="reschedule")
    def wait(dagster_run_id: str) -> PokeReturnValue:
        try:
            done = check_run(_client(), dagster_run_id)
        except DagsterRunFailed as exc:  # a failed Dagster run is final: no Airflow retry
            raise AirflowFailException(str(exc)) from exc
        return PokeReturnValue(is_done=done, xcom_value=dagster_run_id)

    wait(launch())


pinterest_daily_batch()
