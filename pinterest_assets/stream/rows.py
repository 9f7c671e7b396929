"""What every stream sink stores: one row per Kafka record, clean (``reason`` NULL) or rejected."""

from pinterest_assets import entities as registry
from pinterest_assets.partitions import untaken_reason_column
from pinterest_assets.stream.config import PIN

LINEAGE = registry.POSTGRES_LINEAGE  # cleaning lineage column -> stored column
CLEAN_COLUMNS = [*PIN.columns, *LINEAGE.values()]  # pin_stream, as stored (then _loaded_at)
REJECT_COLUMNS = ["raw", "reason", *LINEAGE.values()]  # pin_stream_rejects, as stored


def sink_view(raw_frame):
    """One row per raw record, as the sink stores it: the cleaner's staged frame with the clean
    columns, the reject columns (``reason`` NULL = clean) and the lineage renamed. A record the
    batch side does not take (for its timestamp, :func:`untaken_reason_column`, or its bytes,
    ``_landing_reason``: the landing's rules) is a reject with the landing's reason. The newest
    row per key is picked by the sink's upsert in Postgres (same log order as ``latest_per_key``),
    which spares Spark a shuffle of the wide rows."""
    from pyspark.sql import functions as F

    from pinterest_assets.cleaning import clean

    # a raw frame built without the landing's rule (raw_frame_from_json alone) has no landing reason
    landing = F.col("_landing_reason") if "_landing_reason" in raw_frame.columns else F.lit(None)
    reason = F.coalesce(untaken_reason_column(F.col("_timestamp")), landing, F.col("_reason"))
    return clean("pin", raw_frame).staged.select(
        *PIN.columns, *[F.col(src).alias(dst) for src, dst in LINEAGE.items()],
        F.col("_reject_raw").alias("raw"), reason.alias("reason"),
    )

