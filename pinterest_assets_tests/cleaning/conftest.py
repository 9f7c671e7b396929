"""Fixtures for the cleaning tests: run raw records through a cleaner in one Spark job."""

from __future__ import annotations

import json

import pytest


def _as_line(record) -> str:
    return record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)


@pytest.fixture(scope="session")
def run_clean(spark):
    """`run_clean(entity, records)` -> (clean rows, reject rows) as dicts, both ordered by `_line`.

    Records are dicts (serialized as JSON) or raw text lines; each gets `_line` = its 1-based
    position. Timestamps come back as ISO-8601 UTC text so assertions don't depend on the
    Python process's time zone.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    from pinterest_assets.cleaning import clean as clean_entity, raw_frame_from_json
    from pinterest_assets.cleaning.common import iso_utc

    def run(entity: str, records: list) -> tuple[list[dict], list[dict]]:
        lines = [(_as_line(r), i + 1) for i, r in enumerate(records)]
        frame = spark.createDataFrame(lines, "value string, _line long")
        clean, rejects = clean_entity(entity, raw_frame_from_json(frame, "value", entity))
        rendered = [
            iso_utc(F.col(f.name)).alias(f.name) if isinstance(f.dataType, TimestampType) else F.col(f.name)
            for f in clean.schema.fields
        ]
        # one job for both outputs: tag each row with its side
        both = clean.select(F.lit("clean").alias("_side"), F.to_json(F.struct(*rendered), {"ignoreNullFields": "false"}).alias("_row"), "_line").unionByName(
            rejects.select(F.lit("reject").alias("_side"), F.to_json(F.struct("raw", "reason", "_line")).alias("_row"), "_line")
        )
        out = {"clean": [], "reject": []}
        for side, row, _ in sorted(both.collect(), key=lambda r: r["_line"]):
            out[side].append(json.loads(row))
        return out["clean"], out["reject"]

    return run
