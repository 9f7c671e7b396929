"""pinterest-pipeline: Pinterest-style events from an HTTP API through Kafka and PySpark into
S3/Postgres, as a Dagster software-defined asset graph."""

__version__ = "0.1.0"
