"""Golden rows of the cleaning library: stored inputs and the rows the cleaners must make of them.

An intended rule change is one fixture update: run ``python -m pinterest_assets_tests.cleaning.golden``
(writes ``<entity>.input.jsonl`` only when missing, then every expected file) and review the diff.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
ENTITIES = ("pin", "geo", "user")
# not an object, an array, no key, an integer key only, a null key: one reject kind each
# JSON leaves these unescaped, but str.splitlines() and editors break lines at them
LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
EXTRA_LINES = ["not json {", "[1, 2]", "{}", '{"index": 1}', '{"unique_id": null, "index": 2}']


def generated_inputs() -> dict[str, list[str]]:
    """The inputs as first generated: the generator's records, the same made dirtier, odd lines."""
    from pinterest_ingest import datagen, dirty

    data = datagen.generate(n_pins=200, seed=13)
    rng = random.Random(13)
    dirtier = {"pin": [dirty.mutated_pin(rng, p) for p in data["pin"]],
               "geo": [dirty.mutated_geo(rng, g) for g in data["geo"]],
               "user": [dirty.mutated_user(rng, u) for u in data["user"]]}
    return {e: [json.dumps(r, ensure_ascii=False) for r in data[e] + dirtier[e]] + EXTRA_LINES
            for e in ENTITIES}


def input_lines(entity: str) -> list[str]:
    """The stored input lines (each file line is one raw line as a JSON string)."""
    path = HERE / f"{entity}.input.jsonl"
    return [json.loads(line) for line in _lines(path)]


# expected rows not stored: the schema read's clean pins are pin.clean's rows without `_line`
DERIVED = {"pin.schema_read.clean": ("pin.clean", "_line")}


def expected(name: str) -> list[str]:
    if name in DERIVED:
        base, dropped = DERIVED[name]
        rows = [json.loads(line) for line in _lines(HERE / f"{base}.jsonl")]
        return sorted(_dumps({k: v for k, v in r.items() if k != dropped}) for r in rows)
    return _lines(HERE / f"{name}.jsonl")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).translate(LINE_BREAKS)


def schemas() -> dict:
    return json.loads((HERE / "schemas.json").read_text(encoding="utf-8"))


def canonical_rows(df, order: str | None = "_line") -> list[str]:
    """Each row as JSON text with sorted keys, timestamps as ISO-8601 UTC text; ordered by `order`
    (None: by the text)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    from pinterest_assets.cleaning.common import iso_utc

    frame = df.select(*[iso_utc(F.col(f.name)).alias(f.name) if isinstance(f.dataType, TimestampType)
                        else F.col(f.name) for f in df.schema.fields])
    rows = [r.asDict(recursive=True) for r in frame.collect()]
    if order is not None:
        rows.sort(key=lambda r: r[order])
        return [_dumps(r) for r in rows]
    return sorted(_dumps(r) for r in rows)


def outputs(spark, entity: str) -> dict[str, tuple[list[str], str]]:
    """name -> (rows, schema) of what the cleaning library makes of the stored inputs today."""
    from pinterest_assets.cleaning import raw_frame_from_json
    from pinterest_assets.cleaning.geo import clean_geo
    from pinterest_assets.cleaning.pin import clean_pin
    from pinterest_assets.cleaning.user import clean_user

    cleaners = {"pin": clean_pin, "geo": clean_geo, "user": clean_user}
    lines = input_lines(entity)
    frame = spark.createDataFrame([(line, i) for i, line in enumerate(lines)], "value string, _line long")
    clean, rejects = cleaners[entity](raw_frame_from_json(frame, "value", entity))
    out = {f"{entity}.clean": (canonical_rows(clean), clean.schema.simpleString()),
           f"{entity}.rejects": (canonical_rows(rejects), rejects.schema.simpleString())}
    if entity == "pin":  # the benchmark shape: spark.read.json with an all-string schema
        out.update(schema_read_outputs(spark, lines))
    return out


def schema_read_outputs(spark, lines: list[str]) -> dict[str, tuple[list[str], str]]:
    import tempfile

    from pyspark.sql.types import StringType, StructField, StructType

    from pinterest_assets import entities as registry
    from pinterest_assets.cleaning.pin import clean_pin

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pins.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        schema = StructType([StructField(n, StringType()) for n in registry.entity("pin").raw_fields])
        clean, rejects = clean_pin(spark.read.schema(schema).json(str(path)))
        return {"pin.schema_read.clean": (canonical_rows(clean, None), clean.schema.simpleString()),
                "pin.schema_read.rejects": (canonical_rows(rejects, None), rejects.schema.simpleString())}


def main() -> None:
    from pinterest_assets.resources.spark_session import build_spark_session

    for entity, lines in generated_inputs().items():
        path = HERE / f"{entity}.input.jsonl"
        if not path.exists():
            path.write_text("".join(_dumps(line) + "\n" for line in lines), encoding="utf-8")
    spark = build_spark_session(app_name="golden-rows")
    try:
        found = {}
        for entity in ENTITIES:
            for name, (rows, schema) in outputs(spark, entity).items():
                if name not in DERIVED:
                    (HERE / f"{name}.jsonl").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
                found[name] = schema
        (HERE / "schemas.json").write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
