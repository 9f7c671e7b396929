"""Fixtures of the fault-injection tests: a real API server per test and a per-test pipeline.

Every test posts through a real ingestion API (a uvicorn process on the session's Kafka) into the
shared topics ``pinterest.{pin,geo,user}``, then runs the asset graph in-process on its OWN lake
folder (``PINTEREST_LAKE_URI`` -> a tmp ``file://`` folder) and its own pin_stream checkpoint, and
reconciles only the records its emulator got accepted. Other tests' events in the shared topics
land in this test's lake too; reconciliation compares only the keys of the records it is given
(their newest event, by offset), so they do not disturb it. Each test uses a distinct emulator seed
(distinct pin unique_ids); geo/user keys (`ind`) are shared, and the tests run one after the other,
so a test's own events are the newest of its keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pinterest_assets import entities as registry
from pinterest_assets.settings import Settings

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@pytest.fixture()
def api(stack):
    """A fresh API server process for this test (the ingest tests' launcher); yields its URL."""
    from pinterest_assets_tests.ingest.conftest import run_api

    with run_api() as url:
        yield url


def emulate(url: str, count: int, seed: int, *, concurrency: int = 4, retry_deadline: float = 30.0,
            updates: int = 0):
    """Post `count` events (pin, geo, user each) plus `updates` new versions of already-posted keys
    and return the Report; every record must be accepted."""
    from pinterest_ingest.emulator import EmulatorConfig, run

    report = run(EmulatorConfig(url=url, count=count, seed=seed, concurrency=concurrency,
                                retry_deadline=retry_deadline, timeout=10.0, updates=updates))
    summary = report.summary()
    assert summary["failed"] == 0 and not summary["rejected"] and summary["accounted"], summary
    assert summary["accepted_total"] == summary["sent"] == len(report.accepted_records), summary
    return report


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@dataclass
class Pipeline:
    """The asset graph on this test's lake and checkpoint, run in-process like `pinterest demo`."""

    settings: Settings
    lake_dir: Path
    checkpoint: Path
    spark: object

    def resources(self) -> dict:
        from pinterest_assets.definitions import build_resources

        return build_resources(Settings())

    def lake(self):
        return self.resources()["lake"]

    def stream_config(self) -> dict:
        return {"ops": {"pin_stream": {"config": {"checkpoint_dir": str(self.checkpoint)}}}, **QUIET}

    def run_ingest(self, raise_on_error: bool = True):
        import dagster as dg

        from pinterest_assets.definitions import defs

        job = defs().resolve_job_def("ingest_job")
        return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=self.stream_config(),
                                      raise_on_error=raise_on_error)

    def run_daily(self, date: str, raise_on_error: bool = True):
        import dagster as dg

        from pinterest_assets.definitions import defs

        job = defs().resolve_job_def("daily_batch_job")
        return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=date,
                                      run_config=QUIET, raise_on_error=raise_on_error)

    def landed_dates(self) -> list[str]:
        from pinterest_assets.landing.files import landed_files

        lake = self.lake()
        return sorted({f.date for e in registry.names() for f in landed_files(lake, e)} | {today()})

    def run_all(self) -> None:
        """ingest_job (raw landing + pin_stream), then daily_batch_job for every landed UTC day."""
        assert self.run_ingest().success
        for date in self.landed_dates():
            assert self.run_daily(date).success, date

    def reconcile(self, accepted_records: list[dict]):
        from pinterest_platform.reconcile import reconcile

        return reconcile(accepted_records, Settings(), self.spark)


@pytest.fixture()
def pipeline(stack, spark, tmp_path, monkeypatch) -> Pipeline:
    lake_dir = tmp_path / "lake"
    lake_dir.mkdir()
    monkeypatch.setenv("PINTEREST_LAKE_URI", lake_dir.as_uri())
    return Pipeline(settings=Settings(), lake_dir=lake_dir, checkpoint=tmp_path / "checkpoint", spark=spark)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2, alive=None, on_timeout=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if alive is not None and not alive():
            raise AssertionError(f"process died while waiting for {what}")
        time.sleep(interval)
    extra = f"\n{on_timeout()}" if on_timeout else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")


def kafka_end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: int(o) for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
