"""`pinterest stream` reporting ``pin_stream`` to the Dagster instance (DAGSTER_HOME).

Every ``every_s`` seconds while the query runs, one runless AssetMaterialization of ``pin_stream``
with the rows upserted since the last report and in total, the lag in records and the last
committed offset per partition. pin_stream's time-window freshness policy (one minute, Dagster's
smallest) then shows it fresh while the stream runs, idle or not, and stale once it stops.
"""

from __future__ import annotations

import threading
import time

import dagster as dg

ASSET = dg.AssetKey("pin_stream")


class InstanceReporter:
    """Reports of one `pinterest stream`; inactive (reports nothing) without an instance."""

    def __init__(self, instance, every_s: float, config, lag_probe, who: str):
        self.instance, self.every_s, self.config, self.lag_probe, self.who = instance, every_s, config, lag_probe, who
        self._lock = threading.Lock()
        self._rows = self._rows_total = self._batches = 0
        self._last_batch: int | None = None
        self._last_report = 0.0
        self.reports = 0

    @classmethod
    def from_environment(cls, every_s: float, config, lag_probe, echo) -> "InstanceReporter":
        """The reporter of DAGSTER_HOME's instance; inactive (said in one line) when it is unset or off."""
        import os

        if every_s > 0 and not os.environ.get("DAGSTER_HOME"):
            echo("not reporting pin_stream to Dagster: DAGSTER_HOME is not set")
        active = every_s > 0 and os.environ.get("DAGSTER_HOME")
        return cls(dg.DagsterInstance.get() if active else None, every_s, config, lag_probe,
                   f"`pinterest stream` pid {os.getpid()}")

    def wrap(self, on_batch):
        """`on_batch` (the progress line) that also counts the batch for the next report."""
        def both(report):
            on_batch(report)
            with self._lock:
                self._rows += report.upserted
                self._rows_total += report.upserted
                self._batches += 1
                self._last_batch = report.batch_id
        return both

    def tick(self) -> None:
        """From the main loop: one report when `every_s` passed since the last."""
        if self.instance is None or time.monotonic() - self._last_report < self.every_s:
            return
        from pinterest_assets.stream.checkpoint import batch_offsets

        with self._lock:
            rows, batches, last_batch = self._rows, self._batches, self._last_batch
            self._rows = self._batches = 0
        metadata = {"rows_upserted": rows, "rows_upserted_total": self._rows_total, "batches": batches,
                    "table": f"pinterest.{self.config.table}", "reported_by": self.who}
        if last_batch is not None:
            try:
                offsets = batch_offsets(self.config.resolved_checkpoint(), last_batch)
                metadata["last_offsets"] = dg.MetadataValue.json(offsets.get(self.config.topic, {}))
                metadata["lag_records"] = int(self.lag_probe.behind(offsets))
            except Exception as exc:  # noqa: BLE001 - a report never stops the stream
                metadata["lag_records"] = f"unknown ({type(exc).__name__})"
        self.instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=ASSET, description="`pinterest stream` is running", metadata=metadata))
        self._last_report = time.monotonic()
        self.reports += 1
