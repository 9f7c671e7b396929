"""The engine behind raw_<entity>: Kafka messages landed once in the lake, by offset range.

files (what a landed file's name says), message (one message -> a JSON line or a quarantine line),
history (what the lake must agree with), engine (:func:`land_topic`). Why it is exactly-once:
docs/decisions.md, "Raw landing exactly-once".
"""
