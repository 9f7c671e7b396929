"""Runs inside the Airflow venv (.venv-airflow), started by the tests in the main venv.

    python airflow_probe.py parse [CASES]  parse the DAG folder with Airflow's DagBag, report the DAG;
                                           CASES = JSON {name: {env var: value or null}}: one parse
                                           per case with those variables set (null: unset)
    python airflow_probe.py test <date>    dag.test() of pinterest_daily_batch at that logical date

The result is one JSON line on stdout prefixed with AIRFLOW_PROBE_RESULT; everything else
(Airflow's own logs) is context for a failing assertion. Standard library + Airflow only.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone

DAG_ID = "pinterest_daily_batch"
RESULT_MARK = "AIRFLOW_PROBE_RESULT "


def emit(result: dict) -> None:
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    dags_folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    if dags_folder not in sys.path:
        sys.path.insert(0, dags_folder)
    return DagBag(dag_folder=dags_folder)


def recording_lookups(calls: list[str]):
    """Make every Variable / Connection lookup (metadata DB or secrets backend) record itself and fail."""
    from airflow.sdk import BaseHook, Variable
    from airflow.sdk.definitions.connection import Connection

    def recorder(what):
        def lookup(*args, **kwargs):
            calls.append(what)
            raise RuntimeError(f"{what} called while parsing")
        return lookup

    import inspect

    originals = [(owner, name, inspect.getattr_static(owner, name))
                 for owner, name in ((Variable, "get"), (Connection, "get"), (BaseHook, "get_connection"))]
    for owner, name, _ in originals:
        setattr(owner, name, staticmethod(recorder(f"{owner.__name__}.{name}")))
    return originals


def parse() -> dict:
    from airflow.serialization.encoders import coerce_to_core_timetable

    lookups: list[str] = []
    originals = recording_lookups(lookups)
    try:
        bag = dagbag()
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    result = {"import_errors": {os.path.basename(k): v for k, v in bag.import_errors.items()},
              "dag_ids": sorted(bag.dag_ids), "lookups_at_parse": lookups}
    dag = bag.dags.get(DAG_ID)
    if dag is None:
        return result
    core = coerce_to_core_timetable(dag.timetable)
    run_after = datetime(2026, 3, 2, tzinfo=timezone.utc)
    interval = core.infer_manual_data_interval(run_after=run_after)
    wait = dag.get_task("wait")
    result[DAG_ID] = {
        "timetable_class": type(dag.timetable).__name__,
        "cron": core.summary,
        "timezone": str(core._timezone),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat(),
        "task_ids": sorted(dag.task_ids),
        "wait_upstream": sorted(wait.upstream_task_ids),
        "wait_mode": wait.mode,
        "wait_timeout": wait.timeout,
        "interval_for_run_after_2026_03_02": [interval.start.isoformat(), interval.end.isoformat()],
        "params": sorted(dag.params.keys()),
    }
    return result


def dag_test(logical_date: str) -> dict:
    bag = dagbag()
    assert not bag.import_errors, bag.import_errors
    run = bag.dags[DAG_ID].test(logical_date=datetime.fromisoformat(logical_date).replace(tzinfo=timezone.utc))
    return {"state": str(run.state), "run_id": run.run_id}


def parse_cases(cases: dict[str, dict[str, str | None]]) -> dict[str, dict]:
    results = {}
    for name, overrides in cases.items():
        saved = {key: os.environ.get(key) for key in overrides}
        try:
            for key, value in overrides.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            results[name] = parse()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return results


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "parse":
        emit(parse_cases(json.loads(argv[1])) if len(argv) > 1 else parse())
    elif command == "test":
        emit(dag_test(argv[1]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
