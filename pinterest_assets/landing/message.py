"""One Kafka message as a landed JSON line, or a quarantine line with a reason: never raises."""

import base64
import json
from datetime import UTC, datetime

from pinterest_assets.messages import parse_message
from pinterest_assets.partitions import untaken_reason


def _moment(msg) -> tuple[datetime, str | None]:
    """The message's Kafka timestamp as a UTC datetime, and why the batch side does not take it
    (:func:`untaken_reason`, the rule ``pin_stream`` applies too); the epoch when it has no usable one."""
    reason = untaken_reason(msg.timestamp)
    if reason in (None, "timestamp_before_first_partition"):
        try:
            return datetime.fromtimestamp(msg.timestamp / 1000, UTC), reason
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.fromtimestamp(0, UTC), reason or "timestamp_out_of_range"


def quarantine_line(lineage: dict, reason: str, value: bytes | None) -> str:
    """A quarantine record that cannot fail to encode: ASCII-only JSON, the raw bytes in base64."""
    record = {**lineage, "reason": reason,
              "value_base64": None if value is None else base64.b64encode(value).decode("ascii")}
    return json.dumps(record, ensure_ascii=True)


# Characters JSON leaves unescaped but str.splitlines() (and some JSON-lines readers) break lines
# at: escaped, so one record is one line for every reader. The JSON value is the same.
_LINE_BREAKS_ESCAPED = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def encode_message(msg) -> tuple[bool, str, str]:
    """(quarantined?, UTC date, JSON line) for one Kafka message. Never raises."""
    try:
        moment, time_reason = _moment(msg)
        lineage = {
            "_topic": msg.topic,
            "_partition": msg.partition,
            "_offset": msg.offset,
            "_timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        date = moment.date().isoformat()
        obj, reason = parse_message(msg.value)  # the rule pin_stream applies too
        reason = time_reason or reason  # the stream rejects by the same rule first
        if reason is None:
            merged = {**lineage, **{k: v for k, v in obj.items() if k not in lineage}}
            line = json.dumps(merged, ensure_ascii=False).translate(_LINE_BREAKS_ESCAPED)
            line.encode("utf-8")  # parse_message refused lone surrogates; kept as a last guard
            return False, date, line
    except UnicodeEncodeError:
        reason = "lone_surrogate"
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, the message must land somewhere
        reason = f"unreadable: {type(exc).__name__}"
    if "lineage" not in locals():
        lineage = {"_topic": msg.topic, "_partition": msg.partition, "_offset": msg.offset,
                   "_timestamp": "1970-01-01T00:00:00.000Z"}
        date = "1970-01-01"
    return True, date, quarantine_line(lineage, reason, msg.value)
