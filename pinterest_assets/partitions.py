"""Daily partitions (UTC) of the batch assets: a day is the Kafka timestamp date of the events.

`end_offset=1` makes today's (still growing) partition addressable, so a demo or a test can
materialize the day it just ingested; the scheduled run always takes yesterday.

:func:`untaken_reason` is the one rule for records the batch side does not take because of their
Kafka timestamp: the raw landing quarantines them, and ``pin_stream`` puts them in its rejects
table with the same reason, so a record is in both views or in neither.
"""

from datetime import UTC, datetime

import dagster as dg

FIRST_DAY = "2025-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)

# A backfill of cleaned_* / *_table runs up to 31 days per run (one Spark start-up for them all):
# each day is still its own atomic replace in the lake, and the Postgres IO manager replaces the
# run's days in one transaction.
MAX_DAYS_PER_RUN = 31
DAILY_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_DAYS_PER_RUN)

FIRST_MS = int(datetime.fromisoformat(FIRST_DAY).replace(tzinfo=UTC).timestamp() * 1000)
LAST_MS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000) + 999  # Python's last instant


def untaken(timestamp_ms, first_match):
    """Why the batch side does not take a record with Kafka timestamp `timestamp_ms` (epoch ms,
    -1 when it has none), or no reason. Written once for both sides: `first_match(*(condition,
    reason))` is plain Python for the landing and a Spark ``when`` chain for the stream."""
    return first_match(
        (timestamp_ms < 0, "no_timestamp"),
        (timestamp_ms < FIRST_MS, "timestamp_before_first_partition"),
        (timestamp_ms > LAST_MS, "timestamp_out_of_range"),
    )


def untaken_reason(timestamp_ms: int | None) -> str | None:
    """:func:`untaken` for one Kafka message (the landing)."""
    return untaken(-1 if timestamp_ms is None else timestamp_ms,
                   lambda *cases: next((reason for condition, reason in cases if condition), None))


def untaken_reason_column(timestamp):
    """:func:`untaken` as a Spark column over a timestamp column (the stream); NULL: taken."""
    from pyspark.sql import functions as F

    def first_match(*cases):
        chain = None
        for condition, reason in cases:
            chain = F.when(condition, F.lit(reason)) if chain is None else chain.when(condition, F.lit(reason))
        return chain

    return untaken(F.coalesce(F.unix_millis(timestamp), F.lit(-1)), first_match)
