"""The rule for a Kafka message's bytes: which messages the landing takes as a JSON object, and
why it quarantines the others. The landing applies :func:`parse_message` to every message;
``pin_stream`` applies the same function (:func:`landed_json`) to every message its own parse
might judge differently (:func:`python_needed`), so a record is in both views or in neither, with
the same reason.

Reasons: ``empty_message`` (no value), ``not_utf8``, ``not_json``, ``not_a_json_object``,
``json_too_deep`` (over :data:`MAX_JSON_DEPTH` levels), ``lone_surrogate`` (a ``\\ud800`` escape
that parses but cannot be written as UTF-8).
"""

import json
import re

MAX_JSON_DEPTH = 64  # deeper JSON is quarantined (the API rejects it with a 422 first)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _depth(obj, limit: int) -> int:
    """Nesting depth of a parsed JSON value, iteratively (never recursion), stopping past `limit`."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return deepest


def parse_message(value: bytes | None) -> tuple[dict | None, str | None]:
    """(the message's JSON object, None) or (None, why the landing quarantines it)."""
    if value is None:
        return None, "empty_message"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not_utf8"
    try:
        obj = json.loads(text, strict=False, parse_constant=_reject_constant)
    except RecursionError:
        return None, "json_too_deep"
    except ValueError:
        return None, "not_json"
    if not isinstance(obj, dict):
        return None, "not_a_json_object"
    if _depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        return None, "json_too_deep"
    if _SURROGATE_ESCAPE.search(text):  # the only way to a lone surrogate: UTF-8 bytes cannot hold one
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "lone_surrogate"
    return obj, None


def landed_json(value: bytes | None) -> tuple[str | None, str | None]:
    """(the message's object as the landing writes it, lineage aside; None) or (None, the
    landing's quarantine reason): what the batch side cleans, for the stream."""
    obj, reason = parse_message(value)
    return (None, reason) if reason else (json.dumps(obj, ensure_ascii=False), None)


def python_needed(text, parsed):
    """Spark column: True unless the message's text (`text`, the value cast to string) is one for
    which :func:`parse_message` takes the object and Spark's parse `parsed` (``from_json`` of
    ``[<text>]`` as an array of objects) gives the same fields as the landed line. Cheap tests,
    each covering a way the two parsers differ; a false True only costs a Python call:

    - not valid UTF-8 (Spark reads U+FFFD, the landing says ``not_utf8``);
    - a ``\\ud`` escape (a lone surrogate, which Spark turns into ``?``);
    - 64 or more ``{``/``[`` (with a scalar inside the deepest, the depth could exceed
      :data:`MAX_JSON_DEPTH`: a scalar counts as a level);
    - a ``]``, or an array parse that is not exactly one object (Spark ignores text after the
      first value; wrapped in ``[...]``, text after it is an error or a second element, and
      without a ``]`` in the text nothing can close the wrapper early);
    - an exponent of 100 or more, or 309 digits in a row (Python reads a float that large as
      infinity and writes ``Infinity``, which no strict JSON parser then takes);
    - anything Spark cannot parse (the landing's reason names what it is).
    """
    from pyspark.sql import functions as F

    containers = F.length(text) - F.length(F.replace(F.replace(text, F.lit("{"), F.lit("")), F.lit("["), F.lit("")))
    return (
        text.isNull()
        | ~F.is_valid_utf8(text)
        | text.contains("\\ud") | text.contains("\\uD")
        | text.contains("]")
        | (containers >= MAX_JSON_DEPTH)
        | text.rlike("[0-9][eE][-+]?0*[1-9][0-9]{2}|[0-9]{309}")
        | F.coalesce(F.size(parsed) != 1, F.lit(True))
        | parsed.getItem(0).isNull()
    )


def landed_json_column(value):
    """Spark column: :func:`landed_json` of the binary column `value` as ``struct<text, reason>``,
    computed in Python for the rows where :func:`python_needed` says so, NULL for the others."""
    from pyspark.sql import functions as F

    def run(row):
        return None if row is None else landed_json(None if row[0] is None else bytes(row[0]))

    return F.udf(run, "text STRING, reason STRING", useArrow=False)(value)


def messages_as_json(records, entity: str):
    """Kafka source rows (``value`` and lineage columns) as (``value`` text, ``_json``: the text
    parsed with ``raw_json_schema(entity)`` as the batch side would parse the landed line, NULL
    when it would not land, ``_landing_reason``: why the landing quarantines it, lineage)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    from pinterest_assets.cleaning.common import JSON_OPTIONS, raw_json_schema

    schema = raw_json_schema(entity)
    text = F.col("value").cast("string")
    wrapped = F.from_json(F.concat(F.lit("["), text, F.lit("]")), ArrayType(schema), JSON_OPTIONS)
    lineage = [c for c in records.columns if c != "value"]
    staged = records.select(F.col("value"), text.alias("_text"), wrapped.alias("_wrapped"), *lineage)
    needed = python_needed(F.col("_text"), F.col("_wrapped"))
    landed = staged.select("*", landed_json_column(F.when(needed, F.struct(F.col("value")))).alias("_landed"))
    parsed = F.when(F.col("_landed").isNull(), F.col("_wrapped").getItem(0)).otherwise(
        F.from_json(F.col("_landed.text"), schema, JSON_OPTIONS))
    return landed.select(F.col("_text").alias("value"), parsed.alias("_json"),
                         F.col("_landed.reason").alias("_landing_reason"), *lineage)
