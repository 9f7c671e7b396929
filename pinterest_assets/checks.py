"""Asset checks of the cleaned lake tables, evaluated inside the cleaned assets.

They run in the same step as the asset, on the DataFrame it is about to write (already cached),
so a check costs one aggregation instead of re-reading the partition, and it knows how many raw
records the day had. Checks:

- ``key_not_null_and_unique`` (all entities, ERROR, blocking: the Postgres tables key on it);
- ``has_rows_when_raw_data`` (all entities, ERROR): a day with raw records gives at least one row;
- ``follower_count_non_negative`` (pin, ERROR);
- ``category_known`` (pin, WARN): every category is one of the 13 known.
"""

from __future__ import annotations

import dagster as dg

from pinterest_assets.entities import entity as entity_spec

# The data contract's 13 categories (the README's data contract, "Raw records").
KNOWN_CATEGORIES = (
    "christmas", "tattoos", "quotes", "art", "education", "home-decor", "travel", "mens-fashion",
    "vehicles", "diy-and-crafts", "finance", "event-planning", "beauty",
)


def cleaned_check_specs(entity: str) -> list[dg.AssetCheckSpec]:
    asset = f"cleaned_{entity}"
    key = entity_spec(entity).key
    specs = [
        dg.AssetCheckSpec("key_not_null_and_unique", asset=asset, blocking=True,
                          description=f"`{key}` is never NULL and appears once per partition"),
        dg.AssetCheckSpec("has_rows_when_raw_data", asset=asset,
                          description="a day with raw records yields at least one cleaned row"),
    ]
    if entity == "pin":
        specs += [
            dg.AssetCheckSpec("follower_count_non_negative", asset=asset,
                              description="`follower_count` is NULL or ≥ 0"),
            dg.AssetCheckSpec("category_known", asset=asset,
                              description="`category` is one of the 13 known (warns)"),
        ]
    return specs


def evaluate_cleaned_checks(entity: str, df, raw_records: int) -> list[dg.AssetCheckResult]:
    """Every check of the entity's cleaned partition `df`, from one aggregation."""
    from pyspark.sql import functions as F

    key = entity_spec(entity).key
    aggs = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(key).isNull().cast("long")).alias("null_keys"),
        F.countDistinct(F.col(key)).alias("distinct_keys"),
    ]
    if entity == "pin":
        aggs += [
            F.sum((F.col("follower_count") < 0).cast("long")).alias("negative_followers"),
            F.sum((F.col("category").isNotNull() & ~F.col("category").isin(*KNOWN_CATEGORIES))
                  .cast("long")).alias("unknown_categories"),
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
    if entity == "pin":
        unknown = stats["unknown_categories"]
        examples = []
        if unknown:
            examples = [r[0] for r in df.where(~F.col("category").isin(*KNOWN_CATEGORIES))
                        .select("category").distinct().limit(10).collect()]
        results += [
            dg.AssetCheckResult(
                check_name="follower_count_non_negative",
                passed=stats["negative_followers"] == 0,
                metadata={"negative_rows": stats["negative_followers"]},
            ),
            dg.AssetCheckResult(
                check_name="category_known",
                passed=unknown == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"unknown_rows": unknown, "unknown_examples": dg.MetadataValue.json(examples)},
            ),
        ]
    return results
