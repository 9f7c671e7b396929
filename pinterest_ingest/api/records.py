"""From request bytes to (Kafka key, Kafka value): parsing, structural validation, encoding.

Validation is structural only (a JSON object with its key); dirty values and unknown fields pass
through unchanged, because cleaning is the pipeline's job. What is refused here is what the
pipeline could not carry: a body that is not JSON (422 naming the line and column), JSON nested
deeper than ``max_depth`` levels, text that cannot be UTF-8 (a lone surrogate escape such as
``"\\ud800"``), and numbers JSON cannot hold (NaN, Infinity, more digits than Python converts).
"""

from __future__ import annotations

import json
import math
import re
import sys

from pinterest_assets import entities as registry
from pinterest_ingest.api.errors import ApiError

INTEGER_LIKE = re.compile(r"[ \t]*[+-]?[0-9]+[ \t]*")
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---------------------------------------------------------------------------------- parsing
class _BadConstant(ValueError):
    pass


def _reject_constant(name: str):
    raise _BadConstant(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(body: bytes, max_depth: int = 32, batch: bool = False):
    """The parsed body, or an ApiError 422 saying where and why it is not acceptable JSON.

    `max_depth` counts the levels of objects/arrays of one record (a flat record is 1). In a
    batch the array adds one level, and an error names the record's index.
    """
    limit = max_depth + 1 if batch else max_depth
    try:
        # as json.loads(body) does, with one reused decoder (json.loads builds one per call when
        # given parse_constant)
        value = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except RecursionError:
        raise ApiError(422, "too_deep", f"the JSON is nested deeper than the limit of {max_depth} levels",
                       [{"field": None, "problem": f"nested deeper than {max_depth} levels"}]) from None
    except json.JSONDecodeError as exc:
        raise _invalid_json(exc.msg, exc.lineno, exc.colno) from None
    except UnicodeDecodeError as exc:
        bad = bytes(exc.object[exc.start:exc.start + 1]).hex()
        encoding = exc.encoding.upper().replace("-SIG", "")
        if exc.encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig"):
            line, column = _byte_position(body, exc.start)
            raise _invalid_json(f"byte 0x{bad} is not valid UTF-8", line, column) from None
        raise ApiError(422, "invalid_json", f"the body is not valid JSON: it reads as {encoding} "
                                            f"(by its first bytes) and byte {exc.start} does not decode: "
                                            f"{exc.reason}; send UTF-8",
                       [{"field": None, "problem": f"not valid {encoding} at byte {exc.start}"}]) from None
    except ValueError as exc:  # NaN/Infinity, or an integer with more digits than int() converts
        raise _locate_value_error(body, exc) from None
    # Cheap guard first: a document cannot be deeper than its count of brackets.
    if body.count(b"{") + body.count(b"[") > limit:
        path = too_deep(value, limit)
        if path is not None:
            error = {"field": None, "problem": f"nested deeper than {max_depth} levels", "path": path}
            where = ""
            if batch and path and isinstance(path[0], int):
                error = {"index": path[0], **error, "path": path[1:]}
                where = f" in record {path[0]}"
                path = path[1:]
            error["field"] = format_path(path) or None
            where += f" at {error['field']}" if error["field"] else ""
            raise ApiError(422, "too_deep",
                           f"the JSON is nested deeper than the limit of {max_depth} levels{where}; "
                           "flatten it or send it as a string", [error])
    return value


def _invalid_json(problem: str, line: int, column: int) -> ApiError:
    return ApiError(422, "invalid_json",
                    f"the body is not valid JSON: {problem} at line {line}, column {column}",
                    [{"field": None, "problem": problem, "line": line, "column": column}])


def _byte_position(body: bytes, offset: int) -> tuple[int, int]:
    line_start = body.rfind(b"\n", 0, offset) + 1
    column = len(body[line_start:offset].decode("utf-8", "replace")) + 1
    return body.count(b"\n", 0, offset) + 1, column


def _locate_value_error(body: bytes, exc: ValueError) -> ApiError:
    """Where the parser gave up on a value it cannot represent (the json module does not say)."""
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except (UnicodeDecodeError, LookupError):
        text = body.decode("utf-8", "replace")
    digits = sys.get_int_max_str_digits() or 10 ** 9
    scan = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)|(-?[0-9]{%d,})' % (digits + 1))
    for match in scan.finditer(text):
        if match.group(1):
            problem = f"{match.group(1)} is not valid JSON (only finite numbers are)"
        elif match.group(2):
            problem = f"a number with more than {digits} digits"
        else:
            continue
        position = match.start()
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        return _invalid_json(problem, line, column)
    return ApiError(422, "invalid_json", f"the body is not valid JSON: {exc}",
                    [{"field": None, "problem": str(exc)}])


def too_deep(value, max_depth: int) -> list | None:
    """The path to the first object/array below `max_depth` levels, or None."""
    stack = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if type(node) is dict:
            items = node.items()
        elif type(node) is list:
            items = enumerate(node)
        else:
            continue
        if depth > max_depth:
            return list(path)
        for key, child in items:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1, path + (key,)))
    return None


def format_path(path) -> str:
    """["a", 0, "b"] -> 'a[0].b' (text that cannot be UTF-8 shown as \\u escapes)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(part) else part
            out += ("." if out else "") + name
    return out


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number")


json_type = _json_type


# ---------------------------------------------------------------------------------- validation
def _integer_problem(value) -> str | None:
    """None when `value` is an integer (JSON Schema sense) or an integer-like string."""
    if isinstance(value, bool):
        return "must be an integer or an integer-like string, not a boolean"
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) and value.is_integer() else "must be a whole number"
    if isinstance(value, str):
        return None if INTEGER_LIKE.fullmatch(value) else "must be an integer-like string such as \"42\""
    return f"must be an integer or an integer-like string, not {_json_type(value)}"


def _is_text_key(spec, name: str) -> bool:
    """The key fields checked as non-empty text rather than integers: a UUID entity's key."""
    return spec.key_kind == "uuid" and name == spec.partition_field


def record_problems(entity: str, record) -> list[dict]:
    """Structural problems of one raw record: [{"field", "problem"}]; empty when it is acceptable."""
    if not isinstance(record, dict):
        return [{"field": None, "problem": f"a {entity} record must be a JSON object, not {_json_type(record)}"}]
    spec = registry.entity(entity)
    problems = []
    for name in spec.raw_key_fields:
        if name not in record:
            problems.append({"field": name, "problem": "missing"})
            continue
        value = record[name]
        if _is_text_key(spec, name):
            if not isinstance(value, str) or not value:
                problems.append({"field": name, "problem": "must be a non-empty string"})
        else:
            problem = _integer_problem(value)
            if problem:
                problems.append({"field": name, "problem": problem})
    return problems


# ---------------------------------------------------------------------------------- encoding
def partition_key(entity: str, record: dict) -> bytes:
    """Kafka key: the record's key normalised exactly as the cleaning normalises it (trimmed and
    lower-cased UUID for pins, integer text for geo/user), so every version of a key shares a
    partition and "newest" is log order. A key the cleaning would reject keeps its posted text."""
    spec = registry.entity(entity)
    value = record[spec.partition_field]
    normalised = spec.normalize_key(value)
    if normalised is None:
        normalised = value if isinstance(value, str) else json.dumps(value)
    return normalised.encode("utf-8")


def serialise(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8")


def encode(entity: str, record: dict) -> tuple[bytes, bytes]:
    """(Kafka key, Kafka value) of a structurally valid record; ApiError 422 naming the field
    that cannot travel (text that is not valid Unicode, a number JSON cannot hold)."""
    try:
        return partition_key(entity, record), serialise(record)
    except (UnicodeEncodeError, ValueError, RecursionError) as exc:
        path, problem = unencodable(record)
        if path is None:
            raise ApiError(422, "invalid_record", f"the record cannot be encoded: {exc}",
                           [{"field": None, "problem": str(exc)}]) from None
        field = format_path(path)
        reason = "invalid_text" if "surrogate" in problem else "invalid_record"
        raise ApiError(422, reason, f"invalid {entity} record: {field} {problem}",
                       [{"field": field, "problem": problem, "path": path}]) from None


def unencodable(value) -> tuple[list | None, str]:
    """The path to the first text that is not valid Unicode (a lone surrogate, in a name or a
    value) or the first non-finite number, and what is wrong with it."""
    stack = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return list(path), "holds an unpaired surrogate (such as \\ud800): not valid Unicode, cannot be UTF-8"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return list(path), "is not a finite number"
        elif isinstance(node, dict):
            for key in node:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return list(path + (key,)), ("has a name holding an unpaired surrogate (such as \\ud800): "
                                                 "not valid Unicode, cannot be UTF-8")
            for key, child in reversed(list(node.items())):
                stack.append((child, path + (key,)))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                stack.append((node[i], path + (i,)))
    return None, ""
