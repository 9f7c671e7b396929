"""Fixtures of the reconcile tests: one real run of the pipeline, shared by the module.

Events (with updates: several versions of one key) go through a real API process into the
session's Kafka; the asset graph runs in-process on this module's own lake folder and pin_stream
checkpoint (the fault tests' ``Pipeline``), and the tests reconcile what the emulator got accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pinterest_assets.settings import Settings


@dataclass
class ReconcileRun:
    pipeline: object
    report: object            # the emulator's Report
    records: list[dict]       # every accepted record: the report's plus the hand-posted reject


@pytest.fixture(scope="module")
def reconcile_run(stack, spark, tmp_path_factory) -> ReconcileRun:
    import httpx

    from pinterest_assets_tests.faults.conftest import Pipeline
    from pinterest_assets_tests.ingest.conftest import run_api
    from pinterest_ingest.emulator import EmulatorConfig, run

    wait_for_no_runs_in_flight(stack)
    tmp = tmp_path_factory.mktemp("reconcile")
    lake_dir = tmp / "lake"
    lake_dir.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PINTEREST_LAKE_URI", lake_dir.as_uri())
        pipeline = Pipeline(settings=Settings(), lake_dir=lake_dir, checkpoint=tmp / "checkpoint", spark=spark)
        with run_api() as url:
            report = run(EmulatorConfig(url=url, count=40, updates=30, seed=801, concurrency=4))
            summary = report.summary()
            assert summary["failed"] == 0 and not summary["rejected"] and summary["accounted"], summary
            # a pin the API accepts (its unique_id is a non-empty string) but the cleaning rejects
            answer = httpx.post(f"{url}/pin/", json={"index": 7, "unique_id": "not-a-uuid-801", "title": "x"},
                                timeout=30)
            assert answer.status_code == 202, answer.text
            records = [*report.accepted_records, answer.json()]
        pipeline.run_all()
        yield ReconcileRun(pipeline, report, records)


def wait_for_no_runs_in_flight(stack, timeout: float = 900) -> None:
    """The stack's Dagster instance is shared: runs another daemon queued (`pinterest dev` in
    test_dev queues ingest_job runs, and the session daemon may dequeue and run them) write
    pin_stream. Start only once none is queued or running, so they cannot write under this module."""
    import time

    import dagster as dg

    from pinterest_platform.dev import unfinished_runs
    from pinterest_platform.stack.dagster_home import dagster_env, prepare_dagster_home

    with pytest.MonkeyPatch.context() as env:
        for name, value in dagster_env(stack).items():
            env.setenv(name, value)
        prepare_dagster_home(stack)
        deadline = time.monotonic() + timeout
        with dg.DagsterInstance.get() as instance:
            while runs := unfinished_runs(instance):
                assert time.monotonic() < deadline, f"runs still in flight: {[r.run_id for r in runs]}"
                time.sleep(5)
