"""`pinterest clean`: run the pipeline's cleaning rules over a raw JSON-lines file.

Same functions as the batch assets and the stream (raw_frame_from_json -> clean_<entity> ->
latest_per_key), with input order standing in for Kafka offsets: the last line of a key wins.
Outputs are single JSON-lines files (not Spark folders), written atomically.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import click

from pinterest_assets import entities as registry

ENTITY_CHOICES = registry.names()


def _check_readable(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise click.ClickException(f"cannot read input file {path}: {reason}") from None


def _check_writable_target(path: Path, what: str) -> None:
    parent = path.resolve().parent
    if path.is_dir():
        raise click.ClickException(f"{what} {path} is a directory: give a file path")
    if not parent.is_dir():
        raise click.ClickException(f"cannot write {what} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise click.ClickException(f"cannot write {what} {path}: folder {parent} is not writable")


def _write_lines_atomically(path: Path, lines) -> int:
    """Write an iterator of text lines to `path` via a temp file + rename; return the count."""
    count = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")
                count += 1
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


def read_numbered_lines(spark, path: Path):
    """The file's lines as (value, _line) with 1-based line numbers; blank lines dropped.

    A single file is read in order (one split per 128 MB, kept in offset order), so a
    monotonically increasing id ranks lines in file order.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    uri = "file://" + str(path.resolve())
    lines = spark.read.text(uri).withColumn("_order", F.monotonically_increasing_id())
    numbered = lines.withColumn("_line", F.row_number().over(Window.orderBy("_order")).cast("long"))
    # a UTF-8 byte-order mark on the first line is not part of the JSON
    value = F.regexp_replace(F.col("value"), "^\ufeff", "")
    return numbered.select(value.alias("value"), "_line").where(F.trim(F.col("value")) != "")


def clean_file(spark, entity: str, input_path: Path):
    """Clean one JSON-lines file: returns (clean rows, rejects rows, rows in) as DataFrames + count.

    The clean frame is deduplicated (last line per key wins) and ordered by line; every frame
    keeps `_line`.
    """
    from pinterest_assets.cleaning import clean as clean_entity, latest_per_key, raw_frame_from_json

    raw = raw_frame_from_json(read_numbered_lines(spark, input_path), "value", entity).cache()
    clean, rejects = clean_entity(entity, raw)
    latest = latest_per_key(clean, entity).orderBy("_line")
    return latest, rejects.orderBy("_line"), raw


def _clean_json_lines(clean_df, entity: str):
    """Each clean row as one JSON object: arrays as arrays, booleans, ISO-8601 UTC timestamps, nulls."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    from pinterest_assets.cleaning.common import iso_utc

    fields = []
    for name in registry.entity(entity).columns:
        column = F.col(name)
        if isinstance(clean_df.schema[name].dataType, TimestampType):
            column = iso_utc(column)
        fields.append(column.alias(name))
    as_json = F.to_json(F.struct(*fields), {"ignoreNullFields": "false"})
    return (row[0] for row in clean_df.select(as_json).toLocalIterator())


@click.command(name="clean")
@click.option(
    "--entity", type=click.Choice(ENTITY_CHOICES), required=True,
    help="Which raw records the file holds.",
)
@click.option(
    "--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write quarantined records here as JSON lines (line, reason, raw).",
)
@click.argument("input_path", metavar="INPUT.jsonl", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUTPUT.jsonl", type=click.Path(path_type=Path))
def clean(entity: str, rejects_path: Path | None, input_path: Path, output_path: Path) -> None:
    """Clean raw JSON lines with the pipeline's Spark rules; the last line per key wins.

    Lines that are not JSON objects, and records without a valid key, go to the rejects with a
    reason and their line number. A summary goes to stderr.
    """
    _check_readable(input_path)
    if input_path.is_dir():
        raise click.ClickException(f"cannot read input file {input_path}: it is a directory")
    _check_writable_target(output_path, "output")
    if rejects_path is not None:
        _check_writable_target(rejects_path, "rejects file")

    from pyspark.sql import functions as F

    from pinterest_assets.resources.spark_session import build_spark_session

    spark = build_spark_session(app_name="pinterest-clean")
    latest, rejects, raw = clean_file(spark, entity, input_path)
    try:
        rows_in = raw.count()
        written = _write_lines_atomically(output_path, _clean_json_lines(latest, entity))

        reject_rows = rejects.select(
            "reason",
            F.to_json(
                F.struct(F.col("_line").alias("line"), "reason", "raw"), {"ignoreNullFields": "false"}
            ),
        )
        reasons: Counter[str] = Counter()

        def reject_lines():
            for reason, line in reject_rows.toLocalIterator():
                reasons[reason] += 1
                yield line

        if rejects_path is not None:
            _write_lines_atomically(rejects_path, reject_lines())
        else:
            for reason, count in rejects.groupBy("reason").count().collect():
                reasons[reason] = count
    finally:
        raw.unpersist()

    rejected = sum(reasons.values())
    duplicates = rows_in - rejected - written
    by_reason = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())) or "none"
    click.echo(
        f"{entity}: {rows_in} rows in, {written} clean rows written to {output_path} "
        f"({duplicates} older duplicates dropped), {rejected} rejected ({by_reason})"
        + (f" -> {rejects_path}" if rejects_path is not None and rejected else ""),
        err=True,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(clean())
