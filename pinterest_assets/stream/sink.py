"""The contract between the stream query and a sink; a new sink is one module that fulfils it.

:class:`pinterest_assets.stream.postgres_sink.PinStreamSink` is the one sink today. A sink must make
a re-delivered micro-batch a no-op: Spark re-runs a batch that did not commit, with the same offsets.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass
class BatchReport:
    batch_id: int
    upserted: int
    staged: int
    rejects: int
    seconds: float = 0.0  # wall time of the micro-batch in the sink (Spark + Postgres)
    newest_event: float | None = None  # max Kafka timestamp (epoch s) stored so far
    spark_seconds: float = 0.0  # of `seconds`: until Spark's last Arrow batch arrived (read, clean,
    # format COPY lines; the COPY and upsert of the earlier batches overlap it)
    postgres_seconds: float = 0.0  # of `seconds`: the rest (the last batch's COPY and upsert, commit)


class Sink(Protocol):
    """What :func:`pinterest_assets.stream.query.start_pin_stream` needs of a sink.

    ``owner`` (the checkpoint's :class:`~pinterest_assets.stream.checkpoint.CheckpointOwner`) and
    ``watch`` (a :class:`~pinterest_assets.stream.source.PartitionWatch`) are set by the query:
    ``watch.check()`` must run before a batch becomes visible, ``close()`` closes both."""

    owner: object
    watch: object
    batches: int
    upserted: int
    staged: int
    rejects: int

    def prepare(self, *, view, source: tuple[str, str] | None, checkpoint: str, reset: bool, log) -> None:
        """Before the first batch: create what the sink writes to (`view`: the rows' frame, see
        :func:`pinterest_assets.stream.rows.sink_view`); refuse a table built from another topic id."""

    def batch_frame(self, view):
        """The streaming frame handed to ``__call__`` per micro-batch, built once from `view`."""

    def __call__(self, batch_df, batch_id: int) -> None:
        """Write one micro-batch, atomically."""

    def close(self) -> None:
        """Release the sink's connections, the owner and the watch."""
