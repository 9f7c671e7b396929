"""Asset checks of the cleaned lake tables, evaluated inside the cleaned assets.

They run in the same step as the asset, on the DataFrame it is about to write (already cached),
so a check costs one aggregation instead of re-reading the partition, and it knows how many raw
records the day had. Checks:

- ``key_not_null_and_unique`` (all entities, ERROR, blocking: the Postgres tables key on it);
- ``has_rows_when_raw_data`` (all entities, ERROR): a day with raw records gives at least one row;
- the row checks an entity names in ``Entity.checks`` (:data:`ROW_CHECKS`): for pins
  ``follower_count_non_negative`` (ERROR) and ``category_known`` (WARN): every category is one of
  the 13 known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from pinterest_assets import entities as registry

# The data contract's 13 categories (the README's data contract, "Raw records").
KNOWN_CATEGORIES = (
    "christmas", "tattoos", "quotes", "art", "education", "home-decor", "travel", "mens-fashion",
    "vehicles", "diy-and-crafts", "finance", "event-planning", "beauty",
)


@dataclass(frozen=True)
class RowCheck:
    """A check that counts the partition's bad rows; an entity names it in ``Entity.checks``."""

    description: str
    bad_rows: Callable[[], object]   # () -> Column: true for a row that fails
    count_label: str                 # metadata key of the count
    severity: str = "ERROR"          # or "WARN"
    examples_of: str | None = None   # column whose distinct bad values are listed (up to 10)


def _col(name: str):
    from pyspark.sql import functions as F

    return F.col(name)


ROW_CHECKS = {
    "follower_count_non_negative": RowCheck(
        "`follower_count` is NULL or ≥ 0", lambda: _col("follower_count") < 0, "negative_rows"),
    "category_known": RowCheck(
        "`category` is one of the 13 known (warns)",
        lambda: _col("category").isNotNull() & ~_col("category").isin(*KNOWN_CATEGORIES),
        "unknown_rows", severity="WARN", examples_of="category"),
}


def cleaned_check_specs(entity: str) -> list[dg.AssetCheckSpec]:
    asset = f"cleaned_{entity}"
    spec = registry.entity(entity)
    return [
        dg.AssetCheckSpec("key_not_null_and_unique", asset=asset, blocking=True,
                          description=f"`{spec.key}` is never NULL and appears once per partition"),
        dg.AssetCheckSpec("has_rows_when_raw_data", asset=asset,
                          description="a day with raw records yields at least one cleaned row"),
        *[dg.AssetCheckSpec(name, asset=asset, description=ROW_CHECKS[name].description) for name in spec.checks],
    ]


def evaluate_cleaned_checks(entity: str, df, raw_records: int) -> list[dg.AssetCheckResult]:
    """Every check of the entity's cleaned partition `df`, from one aggregation."""
    from pyspark.sql import functions as F

    spec = registry.entity(entity)
    key = spec.key
    aggs = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(key).isNull().cast("long")).alias("null_keys"),
        F.countDistinct(F.col(key)).alias("distinct_keys"),
        *[F.sum(ROW_CHECKS[name].bad_rows().cast("long")).alias(name) for name in spec.checks],
    ]
    stats = {k: (v or 0) for k, v in df.agg(*aggs).first().asDict().items()}
    non_null = stats["rows"] - stats["null_keys"]
    duplicates = non_null - stats["distinct_keys"]
    results = [
        dg.AssetCheckResult(
            check_name="key_not_null_and_unique",
            passed=stats["null_keys"] == 0 and duplicates == 0,
            metadata={"null_keys": stats["null_keys"], "duplicate_keys": duplicates},
        ),
        dg.AssetCheckResult(
            check_name="has_rows_when_raw_data",
            passed=raw_records == 0 or stats["rows"] > 0,
            metadata={"raw_records": raw_records, "rows": stats["rows"]},
        ),
    ]
    for name in spec.checks:
        check, bad = ROW_CHECKS[name], stats[name]
        metadata = {check.count_label: bad}
        if check.examples_of:
            examples = [r[0] for r in df.where(check.bad_rows()).select(check.examples_of).distinct()
                        .limit(10).collect()] if bad else []
            metadata[check.count_label.removesuffix('_rows') + '_examples'] = dg.MetadataValue.json(examples)
        results.append(dg.AssetCheckResult(check_name=name, passed=bad == 0, metadata=metadata,
                                           severity=dg.AssetCheckSeverity[check.severity]))
    return results
