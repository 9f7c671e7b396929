"""The asset graph: raw_* (Kafka -> lake JSON lines), cleaned_* (daily Parquet), and the Postgres
side's *_table / pin_stream (in serving.py and streamed.py)."""
