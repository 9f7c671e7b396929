"""The DAG file as Airflow parses it (in the Airflow venv), and the stdlib logic behind it."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from pinterest_assets_tests.airflow_bridge.airflow_env import AIRFLOW_VENV, airflow_base_env, run_probe

DAG = "pinterest_daily_batch"
SETTINGS = ("PINTEREST_DAGSTER_WAIT_TIMEOUT", "PINTEREST_DAILY_START_DATE", "PINTEREST_DAILY_CATCHUP_DAYS",
            "PINTEREST_DAILY_CRON")
DEFAULTS = {name: None for name in SETTINGS}
BAD = {
    "timeout_text": ("PINTEREST_DAGSTER_WAIT_TIMEOUT", "abc"),
    "timeout_zero": ("PINTEREST_DAGSTER_WAIT_TIMEOUT", "0"),
    "timeout_negative": ("PINTEREST_DAGSTER_WAIT_TIMEOUT", "-5"),
    "timeout_fraction": ("PINTEREST_DAGSTER_WAIT_TIMEOUT", "1.5"),
    "timeout_inf": ("PINTEREST_DAGSTER_WAIT_TIMEOUT", "inf"),
    "catchup_negative": ("PINTEREST_DAILY_CATCHUP_DAYS", "-1"),
    "start_not_a_date": ("PINTEREST_DAILY_START_DATE", "2026-13-01"),
}
ALLOWED = {"PINTEREST_DAGSTER_WAIT_TIMEOUT": "expected a whole number of seconds > 0",
           "PINTEREST_DAILY_CATCHUP_DAYS": "expected a whole number of days >= 0",
           "PINTEREST_DAILY_START_DATE": "expected a date YYYY-MM-DD (UTC)"}


def utc_midnight(days_ago: int) -> datetime:
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) - timedelta(days=days_ago)


@pytest.fixture(scope="module")
def parses(airflow_home) -> dict[str, dict]:
    """Every parse these tests look at, done by Airflow's DagBag in one Airflow-venv process."""
    cases = {
        "default": DEFAULTS,
        "configured": {**DEFAULTS, "PINTEREST_DAILY_START_DATE": "2026-01-15",
                       "PINTEREST_DAGSTER_WAIT_TIMEOUT": " 900 ", "PINTEREST_DAILY_CATCHUP_DAYS": "7"},
        "catchup_days": {**DEFAULTS, "PINTEREST_DAILY_CATCHUP_DAYS": "10"},
        **{name: {**DEFAULTS, variable: value} for name, (variable, value) in BAD.items()},
    }
    result, _ = run_probe(airflow_base_env(airflow_home), "parse", json.dumps(cases))
    return result


def test_main_venv_has_no_airflow():
    with pytest.raises(ImportError):
        import airflow  # noqa: F401


def test_dag_folder_imports_without_errors(parses):
    assert parses["default"]["import_errors"] == {}
    assert parses["default"]["dag_ids"] == [DAG]


def test_parsing_looks_up_no_variable_or_connection(parses):
    """The dag-processor parses the file often: nothing may query the metadata DB or secrets there."""
    assert parses["default"]["lookups_at_parse"] == []
    assert parses["configured"]["lookups_at_parse"] == []


def test_schedule_is_daily_at_midnight_utc_with_data_intervals(parses):
    dag = parses["default"][DAG]
    assert dag["timetable_class"] == "CronDataIntervalTimetable"
    assert dag["cron"] == "0 0 * * *"
    assert dag["timezone"] in ("UTC", "Timezone('UTC')")


def test_missed_days_catch_up_one_run_at_a_time_from_a_few_days_back(parses):
    dag = parses["default"][DAG]
    assert dag["catchup"] is True
    assert dag["max_active_runs"] == 1
    # default window: 3 days back from today's midnight (UTC), so a first deploy starts 3 runs
    assert datetime.fromisoformat(dag["start_date"]) in (utc_midnight(3), utc_midnight(2))
    assert datetime.fromisoformat(parses["catchup_days"][DAG]["start_date"]) in (utc_midnight(10), utc_midnight(9))


def test_a_fixed_start_date_and_wait_timeout_come_from_the_environment(parses):
    dag = parses["configured"][DAG]
    # a fixed start date wins over the catch-up window
    assert dag["start_date"] == "2026-01-15T00:00:00+00:00"
    assert dag["wait_timeout"] == 900
    assert parses["default"][DAG]["wait_timeout"] == 3 * 3600


def test_run_at_midnight_processes_the_previous_day(parses):
    from pinterest_bridge.dagster_runs import partition_for

    start, end = parses["default"][DAG]["interval_for_run_after_2026_03_02"]
    assert (start, end) == ("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")
    assert partition_for(datetime.fromisoformat(start)) == "2026-03-01"


def test_tasks_launch_then_wait_in_reschedule_mode(parses):
    dag = parses["default"][DAG]
    assert dag["task_ids"] == ["launch", "wait"]
    assert dag["wait_upstream"] == ["launch"]
    assert dag["wait_mode"] == "reschedule"
    assert dag["params"] == ["partition"]


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_setting_is_one_clear_import_error_line(parses, case):
    variable, value = BAD[case]
    result = parses[case]
    assert result["dag_ids"] == []
    (error,) = result["import_errors"].values()
    last_line = error.strip().splitlines()[-1]
    assert last_line == (f"pinterest_bridge.dagster_runs.SettingError: {variable}={value!r} is not allowed: "
                         f"{ALLOWED[variable]}")
    # only the DAG file's own line above it: nothing from int() or Airflow's internals
    assert "int(" not in error and "dagster_runs.py" not in error


def test_airflow_cli_lists_the_bad_setting_as_the_import_error(airflow_db):
    """What a user runs to see why the DAG is missing: `airflow dags list-import-errors --local`."""
    env = airflow_base_env(airflow_db, PINTEREST_DAGSTER_WAIT_TIMEOUT="soon")
    proc = subprocess.run([str(AIRFLOW_VENV / "bin" / "airflow"), "dags", "list-import-errors", "--local",
                           "-o", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: there are import errors
    assert "Traceback" not in proc.stderr
    # Airflow logs its own warnings on stdout too: the JSON answer is the line that starts a list
    errors = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("[")))
    assert [e["filepath"].rsplit("/", 1)[-1] for e in errors] == ["pinterest_daily.py"]
    assert errors[0]["error"].strip().splitlines()[-1] == (
        "pinterest_bridge.dagster_runs.SettingError: PINTEREST_DAGSTER_WAIT_TIMEOUT='soon' is not allowed: "
        "expected a whole number of seconds > 0")


# --- the stdlib logic, in this venv ---------------------------------------------------------------

def test_start_date_window_and_fixed_date(monkeypatch):
    from pinterest_bridge.dagster_runs import daily_start_date

    now = datetime(2026, 5, 10, 17, 30, tzinfo=timezone.utc)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert daily_start_date(now) == datetime(2026, 5, 7, tzinfo=timezone.utc)
    monkeypatch.setenv("PINTEREST_DAILY_CATCHUP_DAYS", "0")
    assert daily_start_date(now) == datetime(2026, 5, 10, tzinfo=timezone.utc)
    monkeypatch.setenv("PINTEREST_DAILY_START_DATE", "2025-12-31")
    assert daily_start_date(now) == datetime(2025, 12, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1.5", "inf", "nan", "1e3"])
def test_wait_timeout_rejects_non_positive_or_non_integer(monkeypatch, raw):
    from pinterest_bridge.dagster_runs import SettingError, wait_timeout

    monkeypatch.setenv("PINTEREST_DAGSTER_WAIT_TIMEOUT", raw)
    with pytest.raises(SettingError) as info:
        wait_timeout()
    assert str(info.value) == (f"PINTEREST_DAGSTER_WAIT_TIMEOUT={raw!r} is not allowed: "
                               "expected a whole number of seconds > 0")
    monkeypatch.setenv("PINTEREST_DAGSTER_WAIT_TIMEOUT", "")
    assert wait_timeout() == 3 * 3600


def test_manual_partition_param_wins():
    from pinterest_bridge.dagster_runs import partition_for

    start = datetime(2026, 5, 6, tzinfo=timezone.utc)
    assert partition_for(start, {"partition": "2026-01-01"}) == "2026-01-01"
    assert partition_for(start, {"partition": None}) == "2026-05-06"
    assert partition_for(start, None) == "2026-05-06"


class FakeConnection:
    """The attributes of an Airflow Connection that resolve_dagster_url reads (host, schema, port)."""

    def __init__(self, host, port=None, schema=None):
        self.host, self.port, self.schema = host, port, schema


def test_dagster_url_from_connection_then_env_then_default(monkeypatch):
    from pinterest_bridge.dagster_runs import resolve_dagster_url

    assert resolve_dagster_url(FakeConnection("dagster.internal", 3001)) == "http://dagster.internal:3001"
    assert resolve_dagster_url(FakeConnection("https://dagster.example.com")) == "https://dagster.example.com"
    assert resolve_dagster_url(FakeConnection("dagster.internal", schema="https")) == "https://dagster.internal"
    monkeypatch.setenv("PINTEREST_DAGSTER_URL", "http://10.0.0.5:3000/")
    assert resolve_dagster_url(None) == "http://10.0.0.5:3000"
    monkeypatch.delenv("PINTEREST_DAGSTER_URL")
    assert resolve_dagster_url(None) == "http://127.0.0.1:3000"


def test_unreachable_dagster_is_a_clear_error():
    from pinterest_bridge.dagster_runs import DagsterClient, DagsterError

    client = DagsterClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(DagsterError, match=r"cannot reach Dagster at http://127.0.0.1:9/graphql"):
        client.status("abc")
