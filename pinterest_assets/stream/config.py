"""Run configuration of ``pin_stream`` (also the options of ``pinterest stream``)."""

import dagster as dg
from pydantic import Field

from pinterest_assets import entities as registry
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LAYOUT
from pinterest_assets.settings import get_settings

PIN = registry.entity("pin")


class PinStreamConfig(dg.Config):
    """Run configuration of ``pin_stream`` (also the options of ``pinterest stream``)."""

    topic: str = Field(default=PIN.topic, description="Kafka topic of raw pins")
    table: str = Field(default=PIN.stream_table, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                       description="target table in schema `pinterest` (lower-case letters, digits, _)")
    checkpoint_dir: str | None = Field(
        default=None, description="Spark checkpoint folder (default <PINTEREST_HOME>/checkpoints/<table>)"
    )
    max_offsets_per_trigger: int | None = Field(
        default=100_000, description="at most this many Kafka records per micro-batch (None: no limit)"
    )
    max_records_per_partition: int | None = Field(
        default=10_000, ge=1,
        description="split a micro-batch's Kafka partition ranges into Spark tasks of at most this many "
        "records: a big batch keeps every core busy, and each task's rows are written to Postgres while "
        "the next tasks run (None: one task per Kafka partition)",
    )
    starting_offsets: str = Field(
        default="earliest", description="where a query without a checkpoint starts: earliest | latest | JSON"
    )
    fail_on_data_loss: bool = Field(
        default=True,
        description="fail when Kafka deleted records the checkpoint had not reached (retention); "
        "False skips them with a warning",
    )
    bootstrap_servers: str | None = Field(default=None, description="default: the `kafka` resource's")
    reset_for_new_topic: bool = Field(
        default=False,
        description="when the topic was recreated (a new topic id): empty the table and its rejects, "
        "move the checkpoint aside and rebuild from the new topic (without it such a run fails)",
    )

    def resolved_checkpoint(self) -> str:
        return self.checkpoint_dir or LAYOUT.checkpoint(get_settings().home, self.table)

    def resolved_bootstrap(self, kafka: KafkaResource | None = None) -> str:
        if self.bootstrap_servers:
            return self.bootstrap_servers
        return (kafka or KafkaResource.from_settings()).bootstrap_servers

