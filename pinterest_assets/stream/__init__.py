"""The engine behind ``pin_stream``: Kafka pins -> the cleaning library -> a sink, exactly once.

config (run options), source (Kafka frame, topic checks, lag), rows (what a sink stores),
sink (the contract), postgres_sink (the one sink), checkpoint (Spark's checkpoint and its owner),
query (starts it all), warmup. Why it is exactly-once: docs/decisions.md, "pin_stream exactly-once".
"""
