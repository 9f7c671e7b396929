"""`pinterest topic grow <entity> --partitions N`: add partitions to a topic without breaking the
order rule (see :mod:`pinterest_assets.ordering`).

Stop the API (and any other producer) first; the command checks that the topic's end offsets stay
put for ``--quiet-seconds``, records a grow boundary in the lake, adds the partitions, and says to
restart the API and the stream. Landing and the stream refuse a partition count they have no
record of, so this is the one supported way to grow a topic.
"""

import click


@click.group(name="topic")
def topic():
    """Kafka topic operations that keep the pipeline's order rule."""


@topic.command(name="grow")
@click.argument("entity")
@click.option("--partitions", type=click.IntRange(min=1), required=True, help="the new partition count")
@click.option("--topic", "topic_name", default=None, help="the entity's topic (default: pinterest.<entity>)")
@click.option("--quiet-seconds", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="the topic's end offsets must not move for this long, before and after adding partitions")
@click.option("--accept-writes-during-grow", is_flag=True, default=False,
              help="a producer wrote during an earlier, unconfirmed grow: count those records as the old epoch")
def grow(entity, partitions, topic_name, quiet_seconds, accept_writes_during_grow):
    """Grow ENTITY's topic to --partitions, recording the epoch boundary first (stop the API first)."""
    import dagster as dg

    from pinterest_assets import entities as registry
    from pinterest_assets.ordering import epochs_path, grow_topic
    from pinterest_assets.resources.kafka import KafkaResource
    from pinterest_assets.resources.lake import LakeResource

    if entity not in registry.names():
        raise click.BadParameter(f"unknown entity {entity!r}; one of {', '.join(registry.names())}",
                                 param_hint="ENTITY")
    kafka = KafkaResource.from_settings()
    if topic_name:
        kafka = kafka.model_copy(update={"topics": {**kafka.topics, entity: topic_name}})
    lake = LakeResource.from_settings()
    try:
        epochs = grow_topic(kafka, lake, entity, partitions, quiet_s=quiet_seconds,
                            accept_writes_during_grow=accept_writes_during_grow)
    except dg.Failure as exc:
        raise click.ClickException(exc.description or str(exc)) from None
    click.echo(f"{epochs.topic}: {epochs.partitions} partitions, epoch {len(epochs.boundaries)} starts at "
               f"{epochs.boundaries[-1] if epochs.boundaries else {}} "
               f"(recorded in {lake.uri_of(epochs_path(entity, epochs.topic))}). "
               "Restart the API, then the stream.")
