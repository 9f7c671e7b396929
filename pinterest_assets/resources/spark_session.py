"""The one SparkSession factory: batch assets, the stream, the CLI and the tests all use it.

Connector jars (spark-sql-kafka, hadoop-aws + AWS SDK, PostgreSQL JDBC) come from
``<PINTEREST_HOME>/jars/spark`` (``make jars``) and go on ``spark.jars``. s3a is configured for
``PINTEREST_S3_ENDPOINT`` when set (path-style, plain credentials from the AWS variables or
the local S3 server's defaults),
otherwise for AWS's default credential chain.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pinterest_assets.settings import Settings, get_settings


class MissingJarsError(RuntimeError):
    pass


class JavaMissingError(RuntimeError):
    pass


JAVA_HINT = "install a JDK 17+ (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"


def find_java(settings: Settings | None = None) -> str:
    """The java executable Spark will start (JAVA_HOME's, else the PATH's), or JavaMissingError.

    A JAVA_HOME without bin/java is refused by :class:`Settings` (Spark's launcher would use it)."""
    settings = settings or get_settings()
    if settings.java_home is not None:
        return str(settings.java_home / "bin" / "java")
    found = shutil.which("java")
    if found and os.access(found, os.X_OK):
        return found
    raise JavaMissingError(f"Java not found (no JAVA_HOME, no `java` on PATH): Spark needs it; {JAVA_HINT}")


def spark_jars(settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    folder = settings.jars / "spark"
    jars = sorted(folder.glob("*.jar"))
    if not jars:
        raise MissingJarsError(
            f"no Spark connector jars in {folder}: run `make jars` (needs Maven) first"
        )
    return jars


def s3a_conf(settings: Settings) -> dict[str, str]:
    """Hadoop s3a settings: a local S3 API (path-style, no SSL on http) or AWS's defaults."""
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.fast.upload": "true",
        # Never delete parent "directory marker" objects: S3Proxy's filesystem backend maps a
        # marker to a real folder and refuses to delete a non-empty one (AWS needs none either).
        "spark.hadoop.fs.s3a.directory.marker.retention": "keep",
    }
    endpoint = settings.s3_endpoint_url
    if endpoint:
        from pinterest_assets.resources.s3 import credentials

        access_key, secret_key = credentials()
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
                "spark.hadoop.fs.s3a.endpoint.region": os.environ.get("AWS_REGION", "us-east-1"),
                "spark.hadoop.fs.s3a.aws.credentials.provider":
                    "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                "spark.hadoop.fs.s3a.access.key": access_key,
                "spark.hadoop.fs.s3a.secret.key": secret_key,
                # a local S3 API has no AWS-only extras
                "spark.hadoop.fs.s3a.change.detection.mode": "none",
                "spark.hadoop.fs.s3a.bucket.probe": "0",
            }
        )
    return conf


# -XX:-DontCompileHugeMethods: the JIT skips methods over 8,000 bytes of bytecode, and the whole-stage
# generated code of the cleaning + COPY formatting (pin_stream's sink) has one of 8,565 bytes
# (`debug.codegenStringSeq`), which then runs interpreted forever: ~28 % slower per micro-batch.
JVM_OPTIONS = ("-Duser.timezone=UTC", "-XX:-DontCompileHugeMethods")


def spark_conf(settings: Settings | None = None, app_name: str = "pinterest") -> dict[str, str]:
    """Everything the session is built with, as plain strings (also useful for PySparkResource)."""
    settings = settings or get_settings()
    jars = spark_jars(settings)
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(str(j) for j in jars),
        # Local mode: executors live in the driver JVM, so a driver classpath entry spares Spark
        # copying the 700 MB AWS SDK bundle into every session's work folder.
        "spark.driver.extraClassPath": str(settings.jars / "spark" / "*"),
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.session.timeZone": "UTC",
        # PINTEREST_SPARK_DRIVER_JAVA_OPTIONS: extra driver JVM flags (`pinterest stream` fixes its heap)
        "spark.driver.extraJavaOptions": " ".join(
            [*JVM_OPTIONS, *settings.spark_driver_java_options.split()]),
        # 2 cores: a few shuffle partitions beat Spark's default of 200
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.default.parallelism": "4",
        "spark.ui.enabled": str(settings.spark_ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        # the status store keeps every job/SQL execution's plan even without the UI: a long-running
        # stream (several jobs per micro-batch) would grow the driver heap by them; keep few
        "spark.sql.ui.retainedExecutions": "50",
        "spark.ui.retainedJobs": "100",
        "spark.ui.retainedStages": "100",
        "spark.ui.retainedTasks": "2000",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        # Iceberg's SQL (CALL procedures, branches) for the cleaned layer's tables
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.parquet.compression.codec": "snappy",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        # PySpark's DataFrame debugging wraps every Column/DataFrame call to send its Python call
        # site to the JVM (for error contexts): ~7 extra py4j round trips per call, over half of
        # the ~5,000 that building the cleaning plan takes (1.2-1.6 s -> 0.65-1.0 s per clean_pin,
        # warm; bench_cleaning.py prints it for each run). Errors keep their Spark message and
        # Python traceback, only without the DataFrame call-site line.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        "spark.local.dir": str(settings.home / "spark-tmp"),
    }
    conf.update(s3a_conf(settings))
    conf.update(standalone_conf(settings))
    return conf


def standalone_conf(settings: Settings) -> dict[str, str]:
    """Executor settings for a cluster master (``PINTEREST_SPARK_MASTER=spark://...``); none for local.

    Executors run in other JVMs: the driver's extraClassPath does not reach them, the connector
    jars do through ``spark.jars`` (set above). Bounded for the 2-core stack cluster (2 workers
    x 1 core); raise the PINTEREST_SPARK_* variables on a real cluster."""
    if settings.spark_master.startswith("local"):
        return {}
    return {
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.executor.cores": str(settings.spark_executor_cores),
        "spark.cores.max": str(settings.spark_cores_max),
        "spark.executor.extraJavaOptions": " ".join(JVM_OPTIONS),
        # Python workers of the executors: the driver's interpreter (same venv, same packages)
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }


def build_spark_session(settings: Settings | None = None, app_name: str = "pinterest"):
    """Get or create the process's SparkSession with the project's configuration."""
    from pyspark.sql import SparkSession

    settings = settings or get_settings()
    find_java(settings)  # PySpark's own error (JAVA_GATEWAY_EXITED) names neither the cause nor the fix
    (settings.home / "spark-tmp").mkdir(parents=True, exist_ok=True)
    # local mode talks to itself only: no "hostname resolves to a loopback address" guessing
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers run this interpreter (this venv, where pinterest_assets is installed), not
    # whichever python3 is first on PATH: the stream's message rule runs a Python function on them
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    return spark
