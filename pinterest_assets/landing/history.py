"""What the lake's landed history must agree with before anything more lands: Kafka, and itself.

A gap, an overlap, a recreated topic or a retention loss refuses the landing (:class:`LandingRefused`);
an operator's accepted loss is recorded in ``raw/<entity>/_accepted_loss/``.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from pinterest_assets.landing.files import LandedFile
from pinterest_assets.resources.lake import LAYOUT, LakeResource


class LandingRefused(dg.Failure):
    """The lake and Kafka disagree in a way that landing must not paper over."""


@dataclass(frozen=True)
class Loss:
    """Offsets of one partition that will never be landed, and why."""

    topic: str
    partition: int
    first: int
    last: int
    reason: str  # "gap" | "retention"

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def describe(self) -> str:
        return f"{self.topic}/{self.partition} offsets {self.first}..{self.last} ({self.count}, {self.reason})"


def accepted_losses(lake: LakeResource, entity: str) -> list[Loss]:
    """Losses an operator accepted earlier (``raw/<entity>/_accepted_loss/*.json``)."""
    out = []
    for relpath in lake.list_files(LAYOUT.accepted_loss(entity)):
        try:
            data = json.loads(lake.read_text(relpath))
            out.append(Loss(data["topic"], int(data["partition"]), int(data["first"]), int(data["last"]),
                            data.get("reason", "gap")))
        except (ValueError, KeyError, TypeError) as exc:
            raise LandingRefused(f"unreadable accepted-loss record {lake.uri_of(relpath)}: {exc}") from exc
    return out


def record_loss(lake: LakeResource, entity: str, loss: Loss, run_id: str | None) -> None:
    relpath = f"{LAYOUT.accepted_loss(entity)}/{loss.topic}-{loss.partition}-{loss.first}-{loss.last}.json"
    lake.write_text(relpath, json.dumps({
        "topic": loss.topic, "partition": loss.partition, "first": loss.first, "last": loss.last,
        "reason": loss.reason, "run_id": run_id, "accepted_at": datetime.now(UTC).isoformat(),
    }))


def find_gaps(files: list[LandedFile], accepted: list[Loss]) -> tuple[list[Loss], list[str]]:
    """(gaps, overlaps) of each partition's landed history, accepted losses included: it must start
    at offset 0 (a first landing after retention starts with an accepted loss from 0) and have no
    hole between consecutive ranges."""
    covered = sorted([(f.topic, f.partition, f.first, f.last, f.relpath) for f in files]
                     + [(a.topic, a.partition, a.first, a.last, "<accepted loss>") for a in accepted])
    gaps, overlaps = [], []
    for prev, cur in zip([None, *covered], covered):
        if prev is None or (prev[0], prev[1]) != (cur[0], cur[1]):
            if cur[2] > 0:  # the head of the history is missing
                gaps.append(Loss(cur[0], cur[1], 0, cur[2] - 1, "gap"))
            continue
        if cur[2] > prev[3] + 1:
            gaps.append(Loss(cur[0], cur[1], prev[3] + 1, cur[2] - 1, "gap"))
        elif cur[2] <= prev[3]:
            overlaps.append(f"{cur[0]}/{cur[1]}: {prev[4]} and {cur[4]} both cover offset {cur[2]}")
    return gaps, overlaps


def check_topic_id(lake: LakeResource, entity: str, topic: str, topic_id: str | None, has_files: bool) -> None:
    """Fail when the topic's id differs from the one the lake's files came from (topic recreated)."""
    if topic_id is None:
        return
    marker = f"{LAYOUT.topic_ids(entity)}/{topic}.json"
    if lake.exists(marker):
        known = json.loads(lake.read_text(marker)).get("topic_id")
        if known and known != topic_id:
            raise LandingRefused(
                f"topic {topic} was recreated: the lake's files came from topic id {known}, Kafka now "
                f"has {topic_id}. Its offsets restart, so landing would skip or overwrite data. "
                f"Move {lake.uri_of(LAYOUT.raw(entity))} (and its quarantine) aside or point "
                "PINTEREST_LAKE_URI at a new prefix, then land again.")
        return
    if has_files:
        # files from before topic ids were recorded: adopt the current id (nothing to compare)
        pass
    lake.write_text(marker, json.dumps({"topic": topic, "topic_id": topic_id}))
