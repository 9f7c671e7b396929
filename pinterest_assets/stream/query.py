"""Starting the stream: source -> rows -> the given sink, under Spark's checkpoint."""

import os

from pinterest_assets.ordering import STOPPED
from pinterest_assets.resources.lake import LakeResource
from pinterest_assets.resources.postgres import PostgresResource
from pinterest_assets.stream.checkpoint import CheckpointOwner, prepare_checkpoint
from pinterest_assets.stream.config import PinStreamConfig
from pinterest_assets.stream.rows import sink_view
from pinterest_assets.stream.sink import Sink
from pinterest_assets.stream.source import PartitionWatch, current_topic_id, kafka_raw_pins, stream_epochs


def start_pin_stream(spark, config: PinStreamConfig, sink: Sink, *, postgres: PostgresResource,
                     trigger: dict, log=None, owner: "str | CheckpointOwner | None" = None,
                     lake: LakeResource | None = None):
    """Start the query writing to `sink`; returns (StreamingQuery, sink). `trigger` as for
    writeStream.trigger. `lake` holds the topic's order epochs (default: the settings' lake).

    The checkpoint is taken first, in `postgres` (:class:`CheckpointOwner`; `owner` is one already
    taken, or the name of this process in the message another starter gets); ``sink.close()`` gives
    it up. CheckpointInUse when another query holds it."""
    import socket

    lock = owner if isinstance(owner, CheckpointOwner) else CheckpointOwner(
        postgres, config.resolved_checkpoint(), owner or f"pid {os.getpid()} on {socket.gethostname()}")
    try:
        return _start_query(spark, config, sink, trigger=trigger, log=log, lock=lock,
                            lake=lake or LakeResource.from_settings())
    except BaseException:
        lock.close()
        raise


def _start_query(spark, config: PinStreamConfig, sink: Sink, *, trigger: dict, log, lock: CheckpointOwner,
                 lake: LakeResource):
    if not config.fail_on_data_loss and log is not None:
        log.warning(
            f"failOnDataLoss is off for {config.topic}: records Kafka deleted before this query read "
            "them will be skipped (check the raw lake landing for them)"
        )
    epochs = stream_epochs(config, lake)
    raw = kafka_raw_pins(spark, config, epochs)
    sink.owner, sink.watch = lock, PartitionWatch(config.resolved_bootstrap(), epochs)
    checkpoint = config.resolved_checkpoint()
    source = current_topic_id(config)
    view = sink_view(raw)  # the cleaning plan is built here, once, not per micro-batch
    sink.prepare(view=view, source=source, checkpoint=checkpoint, reset=config.reset_for_new_topic, log=log)
    prepare_checkpoint(spark, checkpoint)
    query = (
        sink.batch_frame(view).writeStream.queryName(f"pin_stream_{config.table}")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(sink)
        .trigger(**trigger)
        .start()
    )
    return query, sink


def explain_stream_failure(exc: Exception, config: PinStreamConfig) -> str:
    text = str(exc)
    if STOPPED in text:
        return text[text.index(STOPPED):].splitlines()[0]
    if "concurrently using" in text:
        return (
            f"another query is already running on the checkpoint {config.resolved_checkpoint()} "
            "(a `pinterest stream` process or another pin_stream run?): stop it, or give this run "
            "its own checkpoint_dir"
        )
    if "data loss" in text.lower() or "OffsetOutOfRange" in text:
        return (
            f"Kafka no longer holds records of {config.topic} that the checkpoint "
            f"{config.resolved_checkpoint()} had not read yet (retention deleted them). Nothing was "
            "skipped: recover them from the raw lake landing, or rerun with fail_on_data_loss=False "
            f"to skip them knowingly. Spark said: {text[:500]}"
        )
    return f"pin_stream query failed: {text[:2000]}"

