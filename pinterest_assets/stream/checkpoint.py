"""Spark's checkpoint of the stream: where it is, what it committed, and who owns it.

Exactly one running query per checkpoint (:class:`CheckpointOwner`, a Postgres advisory lock).
Local checkpoints use Hadoop's FileSystem manager (docs/decisions.md, "local checkpoint manager").
"""

import json
import os
from pathlib import Path

import dagster as dg

from pinterest_assets.resources.postgres import PostgresResource


def local_checkpoint_path(checkpoint: str | os.PathLike) -> Path | None:
    """The folder of a local checkpoint (a plain path or ``file://``); None for a remote one
    (``s3a://``, ``hdfs://``, ...)."""
    text = str(checkpoint)
    if "://" in text and not text.startswith("file://"):
        return None
    return Path(text.removeprefix("file://"))


def committed_offsets(checkpoint: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Kafka offsets the checkpoint has committed: ``{topic: {partition: next offset}}``.

    Read from the newest ``commits/<n>`` and its ``offsets/<n>`` entry ({} before the first batch).
    """
    root = local_checkpoint_path(checkpoint)
    if root is None:
        return {}  # a remote checkpoint (s3a://...): Spark's own progress reports cover it
    commits = [int(p.name) for p in (root / "commits").glob("[0-9]*") if p.name.isdigit()]
    if not commits:
        return {}
    lines = (root / "offsets" / str(max(commits))).read_text().strip().splitlines()
    offsets = json.loads(lines[-1])  # v1 / batch metadata / one line per source
    return {topic: {p: int(o) for p, o in parts.items()} for topic, parts in offsets.items()}


def batch_offsets(checkpoint: str | os.PathLike, batch_id: int) -> dict[str, dict[str, int]]:
    """The end offsets of micro-batch `batch_id` (Spark writes ``offsets/<n>`` before running it):
    what the checkpoint has committed once that batch commits. {} if unknown (remote checkpoint)."""
    root = local_checkpoint_path(checkpoint)
    if root is None:
        return {}
    path = root / "offsets" / str(batch_id)
    try:
        offsets = json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {}
    return {topic: {p: int(o) for p, o in parts.items()} for topic, parts in offsets.items()}



class CheckpointInUse(dg.Failure):
    """Another running pin_stream query owns the checkpoint."""


class CheckpointOwner:
    """Exactly one running pin_stream query per checkpoint: a session-level Postgres advisory lock
    on the checkpoint's path, held by a dedicated connection while the query runs. A crashed
    owner's connection closes, and Postgres releases the lock with it."""

    LOCK_CLASS = 0x70696E  # "pin": the first key of the two-key advisory lock space

    def __init__(self, postgres: PostgresResource, checkpoint: str, who: str):
        self.checkpoint = checkpoint_lock_name(checkpoint)
        self.conn = postgres.open(autocommit=True, application_name=f"pin_stream owner: {who}"[:63])
        try:
            taken = self.conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                      (self.LOCK_CLASS, self.checkpoint)).fetchone()[0]
            if not taken:
                holder = self.conn.execute(
                    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = %s "
                    "AND l.objid = hashtext(%s)::oid", (self.LOCK_CLASS, self.checkpoint)).fetchone()
                who_holds = (f"{holder[0].removeprefix('pin_stream owner: ')} (Postgres backend {holder[1]})"
                             if holder else "another process")
                raise CheckpointInUse(
                    f"not started: the pin_stream checkpoint {self.checkpoint} is in use by {who_holds}; "
                    "stop that stream (or let that run finish), or give this one its own checkpoint")
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()  # ends the session: the lock goes with it


def checkpoint_lock_name(checkpoint: str) -> str:
    """One name per checkpoint: a local one as its absolute resolved path, a remote one as given."""
    local = local_checkpoint_path(checkpoint)
    return str(local.resolve()) if local is not None else str(checkpoint).rstrip("/")



CHECKPOINT_MANAGER_CONF = "spark.sql.streaming.checkpointFileManagerClass"
LOCAL_CHECKPOINT_MANAGER = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager")


def prepare_checkpoint(spark, checkpoint: str) -> None:
    """Create a local checkpoint's folder (a remote one is left to Spark: ``s3a://b/cp`` must not
    become a local folder ``s3a:/b/cp``), and pick the checkpoint manager for it.

    A local checkpoint is written through Hadoop's FileSystem API (the same temp-file-then-rename
    writes, far fewer forks) rather than Spark's default FileContext API (docs/decisions.md, "Local
    checkpoint manager"). The setting is read when a query starts."""
    local = local_checkpoint_path(checkpoint)
    if local is None:
        spark.conf.unset(CHECKPOINT_MANAGER_CONF)
    else:
        local.mkdir(parents=True, exist_ok=True)
        spark.conf.set(CHECKPOINT_MANAGER_CONF, LOCAL_CHECKPOINT_MANAGER)



def move_checkpoint_aside(checkpoint: str | None, old_topic_id: str) -> str | None:
    """Rename a local checkpoint folder to ``<folder>.topic-<old id>-<unix time>``; the new path
    (None when there was none). A remote checkpoint must be removed by hand: dg.Failure."""
    import time

    if not checkpoint:
        return None
    path = local_checkpoint_path(checkpoint)
    if path is None:
        raise dg.Failure(f"the checkpoint {checkpoint} is remote: delete it yourself, then run again")
    if not path.exists():
        return None
    aside = path.with_name(f"{path.name}.topic-{old_topic_id[:12]}-{int(time.time())}")
    path.rename(aside)
    return str(aside)
