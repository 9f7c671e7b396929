"""raw_pin, raw_geo, raw_user (and the Kafka topics above them): the landing as Dagster assets.

The engine is :mod:`pinterest_assets.landing`; ``accept_loss`` goes past a gap or retention loss
knowingly, recorded in the lake, the metadata and the blocking check ``no_unaccepted_loss``.
"""

import dagster as dg
from pydantic import Field

from pinterest_assets import entities as registry
from pinterest_assets.landing.engine import land_topic
from pinterest_assets.landing.files import landed_files  # noqa: F401 - assets/cleaned.py imports it from here
from pinterest_assets.landing.history import LandingRefused
from pinterest_assets.resources.kafka import KafkaResource
from pinterest_assets.resources.lake import LAYOUT, LakeResource

LOSS_CHECK = "no_unaccepted_loss"


def build_topic_spec(entity: str) -> dg.AssetSpec:
    """The Kafka topic as an external asset: upstream of raw_<entity> (and pin_stream)."""
    spec = registry.entity(entity)
    return dg.AssetSpec(
        key=spec.topic_asset,
        group_name=registry.GROUP,
        kinds={"kafka"},
        owners=registry.OWNERS,
        description=(f"Kafka topic `{spec.topic}`: raw {entity} events as the ingestion API produced "
                     f"them (key = normalised `{spec.key}`). Written outside Dagster."),
        metadata={"topic": spec.topic, "message_key": spec.key},
    )


class RawLandingConfig(dg.Config):
    """Run configuration of a raw_<entity> landing."""

    accept_loss: bool = Field(
        default=False,
        description="go past offsets that can no longer be landed (a gap in the lake, or Kafka "
        "retention deleted them) and record them as accepted loss; off: the landing fails instead")


def build_raw_asset(entity: str) -> dg.AssetsDefinition:
    spec = registry.entity(entity)

    @dg.asset(
        name=spec.raw_asset,
        group_name=registry.GROUP,
        deps=[spec.topic_asset],
        kinds={"json"},
        owners=registry.OWNERS,
        check_specs=[dg.AssetCheckSpec(
            LOSS_CHECK, asset=spec.raw_asset, blocking=True,
            description="no Kafka offset was skipped by this landing (accepted losses fail it, with their ranges)")],
        description=(
            f"Every `{entity}` event from Kafka, landed once as JSON lines in "
            f"`<lake>/{LAYOUT.raw(entity, '<UTC day>')}/<topic>-<partition>-<first>-<last>.jsonl` "
            "(append-only, exactly-once by offset range; messages that cannot land as a JSON object "
            f"go to `<lake>/{LAYOUT.raw_quarantine(entity)}/` with a reason). Fails on a gap, a "
            "recreated topic, retention loss or a missing topic unless `accept_loss` is set."
        ),
        metadata={"lake_folder": LAYOUT.raw(entity), "key": "offset range per topic-partition"},
    )
    def _raw(context: dg.AssetExecutionContext, config: RawLandingConfig, kafka: KafkaResource,
             lake: LakeResource):
        try:
            report = land_topic(kafka, lake, entity, accept_loss=config.accept_loss, log=context.log,
                                run_id=context.run_id)
        except LandingRefused as refused:
            yield dg.AssetCheckResult(check_name=LOSS_CHECK, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                      metadata={"refused": str(refused.description or refused)})
            raise
        yield dg.MaterializeResult(
            metadata=report.metadata(),
            check_results=[dg.AssetCheckResult(
                check_name=LOSS_CHECK,
                passed=not report.accepted_loss,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"skipped_ranges": dg.MetadataValue.json([x.describe() for x in report.accepted_loss]),
                          "offsets_skipped": sum(x.count for x in report.accepted_loss)},
            )],
        )

    return _raw


def build_topic_specs() -> list[dg.AssetSpec]:
    return [build_topic_spec(name) for name in registry.names()]

def build_raw_assets() -> list[dg.AssetsDefinition]:
    return [build_raw_asset(name) for name in registry.names()]
