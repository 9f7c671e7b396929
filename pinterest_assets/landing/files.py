"""Landed files, known from their names: ``<topic>-<partition>-<first>-<last>.<bytes>b.jsonl``."""

import re
from dataclasses import dataclass

from pinterest_assets.resources.kafka import TopicPartitionKey
from pinterest_assets.resources.lake import LAYOUT, LakeResource

RAW_FILE = re.compile(
    r"^(?P<topic>.+)-(?P<partition>\d+)-(?P<first>\d+)-(?P<last>\d+)(?:\.(?P<size>\d+)b)?\.jsonl$")


@dataclass(frozen=True)
class LandedFile:
    """One landed file, known from its name alone."""

    relpath: str
    topic: str
    partition: int
    first: int
    last: int
    date: str
    quarantine: bool
    size: int | None = None  # bytes, from the name (files landed before sizes were named: None)


def parse_landed_file(relpath: str, quarantine: bool) -> LandedFile | None:
    parts = relpath.split("/")
    match = RAW_FILE.match(parts[-1])
    date_part = parts[-2] if len(parts) >= 2 else ""
    if not match or not date_part.startswith("date="):
        return None
    return LandedFile(relpath, match["topic"], int(match["partition"]), int(match["first"]),
                      int(match["last"]), date_part[len("date="):], quarantine,
                      int(match["size"]) if match["size"] else None)


def landed_files(lake: LakeResource, entity: str, date: str | None = None) -> list[LandedFile]:
    """Every landed raw and quarantine file of `entity` (of one date when given), in offset order."""
    found = []
    for folder, quarantine in ((LAYOUT.raw(entity, date), False), (LAYOUT.raw_quarantine(entity, date), True)):
        for relpath in lake.list_files(folder):
            landed = parse_landed_file(relpath, quarantine)
            if landed is not None:
                found.append(landed)
    return sorted(found, key=lambda f: (f.topic, f.partition, f.first))


def inspect_landed_files(lake: LakeResource, entity: str, topic: str) -> tuple[list[LandedFile], list[str]]:
    """(the topic's landed files in offset order, what else the entity's raw and quarantine folders
    hold): a name no landing writes, a file of another topic, a size other than the one its name
    says (truncated or changed), or a name without a size after the partition's first sized file
    (landings name sizes since that file). Sizes come from the listing; nothing is read."""
    files, foreign = [], []
    for folder, quarantine in ((LAYOUT.raw(entity), False), (LAYOUT.raw_quarantine(entity), True)):
        for relpath, size in sorted(lake.list_file_sizes(folder).items()):
            landed = parse_landed_file(relpath, quarantine)
            if landed is None:
                foreign.append(f"{lake.uri_of(relpath)} is not a file a landing writes")
            elif landed.topic != topic:
                foreign.append(f"{lake.uri_of(relpath)} is of topic {landed.topic}, but {entity} lands {topic}")
            elif landed.size is not None and landed.size != size:
                foreign.append(f"{lake.uri_of(relpath)} holds {size} bytes, its name says {landed.size} "
                               "(truncated or changed)")
            else:
                files.append(landed)
    sized_from: dict[int, int] = {}
    for f in files:
        if f.size is not None:
            sized_from[f.partition] = min(sized_from.get(f.partition, f.first), f.first)
    unsized = [f for f in files if f.size is None and f.first > sized_from.get(f.partition, f.first)]
    foreign += [f"{lake.uri_of(f.relpath)} has no size in its name, but partition {f.partition}'s files "
                f"have named their size since offset {sized_from[f.partition]}" for f in unsized]
    dropped = {f.relpath for f in unsized}
    kept = [f for f in files if f.relpath not in dropped]
    return sorted(kept, key=lambda f: (f.partition, f.first)), foreign


def next_offsets(files: list[LandedFile]) -> dict[TopicPartitionKey, int]:
    """Per topic-partition, one after the highest landed offset: where landing resumes."""
    nxt: dict[TopicPartitionKey, int] = {}
    for f in files:
        key = (f.topic, f.partition)
        nxt[key] = max(nxt.get(key, 0), f.last + 1)
    return nxt
