"""The SparkSession inside Dagster, resource key ``pyspark``: dagster-pyspark's lazy resource,
fed by the project's one session factory.

Why a subclass rather than ``LazyPySparkResource(spark_config=spark_conf(settings))``:

- ``spark_conf()`` lists the connector jars and raises when they are missing, so computing it in
  ``defs()`` would make the whole code location fail to load (even ``dagster definitions
  validate``) on a machine that has not run ``make jars``; here the error comes when Spark is used.
- the conf holds the S3 secret key, and resource config is shown in the Dagster UI and stored
  with every run; here it is read from the environment when the session is built.
- :func:`build_spark_session` also creates the scratch folder and sets the log level.

It is still a ``LazyPySparkResource`` (``isinstance`` holds, ``.spark_session`` and
``.spark_context`` behave the same): nothing starts until an asset touches ``.spark_session``,
and the session is the process's (``getOrCreate``), shared with the IO managers.
"""

from __future__ import annotations

from typing import Any

from dagster_pyspark import LazyPySparkResource
from pydantic import Field


class SparkResource(LazyPySparkResource):
    """The project's SparkSession (``build_spark_session``), created on first use."""

    app_name: str = Field(default="pinterest-dagster", description="Spark application name")
    spark_config: dict[str, Any] = Field(
        default_factory=dict,
        description="extra runtime SQL settings (spark.sql.*) applied after the session is built",
    )

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def _init_session(self) -> None:
        if self._spark_session is None:
            import dagster as dg

            from pinterest_assets.resources.spark_session import JavaMissingError, MissingJarsError, build_spark_session

            try:
                session = build_spark_session(app_name=self.app_name)
            except (JavaMissingError, MissingJarsError) as exc:
                raise dg.Failure(str(exc)) from None
            for key, value in self.spark_config.items():
                session.conf.set(key, str(value))
            self._spark_session = session
