"""A faithful synthetic copy of the public Pinterest training dataset, dirt included.

The source database the original emulator read from is gone, so this module regenerates its shape:
11,154 pin rows (13 categories with the observed counts) plus one geo and one user row per `ind`,
with the placeholders, the NBSPs, the trailing `…`, the `124k`-style follower counts and the
character-spread tag lists the cleaning code has to cope with. Everything is deterministic by
seed. Faker (seeded) provides names and the long official country names; the per-row work uses
one `random.Random` and precomputed pools, so a million pins take seconds, not minutes.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path

DEFAULT_PINS = 11_154
DEFAULT_SEED = 11_154

# Category counts observed in the public dataset (they sum to 11,154).
CATEGORY_COUNTS = {
    "christmas": 999, "tattoos": 970, "quotes": 910, "art": 892, "education": 863,
    "home-decor": 861, "travel": 859, "mens-fashion": 852, "vehicles": 838, "diy-and-crafts": 830,
    "finance": 786, "event-planning": 748, "beauty": 746,
}
CATEGORIES = tuple(CATEGORY_COUNTS)

# The placeholders the scraper wrote when it could not read a field.
NO_TITLE = "No Title Data Available"
NO_DESCRIPTION = "No description available"
STORY_DESCRIPTION = "No description available Story format"
USER_INFO_ERROR = "User Info Error"
NO_TAGS = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_ERROR = "Image src error."
STORY = "multi-video(story page format)"

# Rates (fractions of pin rows).
ERROR_ROW_RATE = 0.008          # every placeholder at once
NO_DESCRIPTION_RATE = 0.016     # including the error rows
STORY_RATE = 0.08
VIDEO_RATE = 0.03
NO_TAGS_RATE = 0.015            # including the error rows
IMAGE_ERROR_RATE = 0.029        # including the error rows; these rows have downloaded = 0
HASHTAG_LIST_RATE = 0.05
SPREAD_TAGS_RATE = 0.004        # character-spread lists besides the placeholder
NBSP_RATE = 0.35
ELLIPSIS_RATE = 0.35
FANCY_TITLE_RATE = 0.06         # emoji, Cyrillic or accented letters
USER_INFO_ERROR_RATE = 0.02     # follower_count/poster_name, including the error rows
# follower_count shapes (of the rows without User Info Error), as observed
FOLLOWER_SHAPES = (("NNk", 0.35), ("NNNk", 0.20), ("Nk", 0.20), ("NNN", 0.10), ("NM", 0.08),
                   ("NN", 0.03), ("N", 0.02))
COUNTRY_POOL_SIZE = 150

WORDS = {
    "christmas": "christmas tree decor ornaments holiday gift wreath santa winter cozy diy festive cookies lights elf",
    "tattoos": "tattoo ink small minimalist sleeve floral arm wrist fine line script rose tiny meaningful",
    "quotes": "quotes life love inspirational motivation words happiness strength wisdom positive daily",
    "art": "art painting drawing sketch watercolor canvas abstract portrait acrylic artist ideas color",
    "education": "education teaching classroom learning kids school math reading activities teacher lesson",
    "home-decor": "home decor living room bedroom interior design modern farmhouse kitchen cozy shelf",
    "travel": "travel destinations beach adventure places wanderlust trip europe bucket list guide",
    "mens-fashion": "mens fashion style outfit casual suit streetwear look shoes jacket summer",
    "vehicles": "car cars vehicles truck motorcycle jeep classic luxury custom wheels racing",
    "diy-and-crafts": "diy crafts easy handmade projects paper kids home ideas crochet sewing",
    "finance": "finance money saving budget tips investing debt personal financial freedom plan",
    "event-planning": "event planning wedding party ideas birthday decorations venue checklist celebration",
    "beauty": "beauty makeup skincare hair nails tips routine natural looks glow lipstick",
}
FILLER = ("the", "best", "for", "and", "your", "with", "how", "to", "ideas", "easy", "simple", "new",
          "top", "this", "that", "you", "will", "love", "of", "in", "a", "our", "free", "2020")
FANCY = ("✨", "😍", "❤️", "🎄", "👗", "♔", "🔥", "café", "crème brûlée", "décor", "naïve", "señorita",
         "Zürich", "зимний домик", "Новый год", "подарки", "красота", "Ελλάδα")
SPREAD_WORDS = ("Home Decor", "Tattoo", "Quotes", "Art", "Beauty", "Travel")


def _category_sequence(n: int, rng: random.Random) -> list[str]:
    """n categories in the observed proportions (exact counts for the default size), shuffled."""
    total = sum(CATEGORY_COUNTS.values())
    shares = {c: n * k / total for c, k in CATEGORY_COUNTS.items()}
    counts = {c: int(s) for c, s in shares.items()}
    # largest remainder, so the counts always sum to n
    for c in sorted(shares, key=lambda c: shares[c] - counts[c], reverse=True)[: n - sum(counts.values())]:
        counts[c] += 1
    seq = [c for c in CATEGORIES for _ in range(counts[c])]
    rng.shuffle(seq)
    return seq


class _Pools:
    """Per-category text pools, built once per (seed) so per-row work is only choices."""

    def __init__(self, rng: random.Random, size: int = 600):
        self.titles: dict[str, list[str]] = {}
        self.descriptions: dict[str, list[str]] = {}
        self.tags: dict[str, list[str]] = {}
        self.posters: list[str] = []
        for cat in CATEGORIES:
            words = WORDS[cat].split()
            self.tags[cat] = list(dict.fromkeys(
                [w for w in words] + [f"{a} {b}" for a in words for b in words if a != b][:80]))
            titles = []
            for _ in range(size):
                parts = [rng.choice(words) if rng.random() < 0.6 else rng.choice(FILLER)
                         for _ in range(rng.randint(3, 9))]
                title = " ".join(parts).title()
                if rng.random() < FANCY_TITLE_RATE:
                    title = f"{title} {rng.choice(FANCY)}" if rng.random() < 0.5 else f"{rng.choice(FANCY)} {title}"
                titles.append(title)
            self.titles[cat] = titles
            descs = []
            for _ in range(size):
                descs.append(" ".join(rng.choice(words) if rng.random() < 0.4 else rng.choice(FILLER)
                                      for _ in range(rng.randint(8, 40))).capitalize())
            self.descriptions[cat] = descs
        syllables = ("ka", "lo", "mi", "ra", "te", "so", "na", "vi", "el", "an", "do", "ri")
        for _ in range(size * 4):
            name = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).title()
            style = rng.random()
            if style < 0.4:
                name = f"{name} {''.join(rng.choice(syllables) for _ in range(2)).title()}"
            elif style < 0.5:
                name = f"{name} | {rng.choice(('Blog', 'Studio', 'Design', 'Home', 'Life'))}"
            elif style < 0.55:
                name = f"{name} {rng.choice(FANCY)}"
            self.posters.append(name)


def _follower_count(rng: random.Random) -> str:
    roll = rng.random() * sum(w for _, w in FOLLOWER_SHAPES)
    for shape, weight in FOLLOWER_SHAPES:
        roll -= weight
        if roll <= 0:
            break
    if shape == "NNk":
        return f"{rng.randint(10, 99)}k"
    if shape == "NNNk":
        return f"{rng.randint(100, 999)}k"
    if shape == "Nk":
        return f"{rng.randint(1, 9)}k"
    if shape == "NNN":
        return str(rng.randint(100, 999))
    if shape == "NM":
        return f"{rng.randint(1, 9)}M"
    if shape == "NN":
        return str(rng.randint(10, 99))
    return str(rng.randint(0, 9))


def _tag_list(rng: random.Random, tags: list[str]) -> str:
    roll = rng.random()
    if roll < SPREAD_TAGS_RATE:
        return ",".join(rng.choice(SPREAD_WORDS))
    chosen = rng.sample(tags, min(len(tags), max(1, int(rng.gauss(9, 1.5)))))
    if roll < SPREAD_TAGS_RATE + HASHTAG_LIST_RATE:
        chosen = ["#" + t.replace(" ", "") for t in chosen]
    return ",".join(chosen)


def _image_src(rng: random.Random, video: bool) -> str:
    h = f"{rng.getrandbits(128):032x}"
    if video:
        return f"https://i.pinimg.com/videos/thumbnails/originals/{h[:2]}/{h[2:4]}/{h[4:6]}/{h}.0000000.jpg"
    return f"https://i.pinimg.com/originals/{h[:2]}/{h[2:4]}/{h[4:6]}/{h}.jpg"


def generate_pins(n: int = DEFAULT_PINS, seed: int = DEFAULT_SEED) -> list[dict]:
    """`n` raw pin rows (index 0..n-1), dirty like the public dataset; the same for the same seed."""
    rng = random.Random(f"pins-{seed}")
    pools = _Pools(random.Random(f"pools-{seed}"))
    categories = _category_sequence(n, rng)
    # The rare row kinds are placed by exact counts (shuffled positions), so rates hold on small n.
    positions = list(range(n))
    rng.shuffle(positions)
    cursor = 0

    def take(rate: float) -> set[int]:
        nonlocal cursor
        k = round(n * rate)
        chosen = set(positions[cursor:cursor + k])
        cursor += k
        return chosen

    error_rows = take(ERROR_ROW_RATE)
    no_desc = take(NO_DESCRIPTION_RATE - ERROR_ROW_RATE)
    no_tags = take(NO_TAGS_RATE - ERROR_ROW_RATE)
    user_error = take(USER_INFO_ERROR_RATE - ERROR_ROW_RATE)
    image_error = take(IMAGE_ERROR_RATE - ERROR_ROW_RATE)
    # a quarter of the broken images are story posts, as in the original (both had downloaded=0);
    # error rows are story posts too, so the rest of the story rows make up the difference
    broken_stories = set(sorted(image_error)[: len(image_error) // 4])
    story_rows = take(STORY_RATE - ERROR_ROW_RATE - len(broken_stories) / max(n, 1)) | broken_stories
    video_rows = take(VIDEO_RATE)
    # NBSP and `…` rates are of all descriptions; only the real (non-placeholder) ones can carry them
    real_share = max(1e-9, 1 - (len(story_rows) + len(no_desc) + len(error_rows)) / max(n, 1))
    nbsp_rate, ellipsis_rate = min(1.0, NBSP_RATE / real_share), min(1.0, ELLIPSIS_RATE / real_share)

    rand, choice, getrandbits = rng.random, rng.choice, rng.getrandbits
    pins = []
    for i in range(n):
        cat = categories[i]
        uid = str(uuid.UUID(int=getrandbits(128), version=4))
        if i in error_rows:
            pins.append({
                "index": i, "unique_id": uid, "title": NO_TITLE, "description": NO_DESCRIPTION,
                "poster_name": USER_INFO_ERROR, "follower_count": USER_INFO_ERROR, "tag_list": NO_TAGS,
                "is_image_or_video": STORY, "image_src": IMAGE_SRC_ERROR, "downloaded": 0,
                "save_location": f"Local save in /data/{cat}", "category": cat,
            })
            continue
        story = i in story_rows
        video = not story and i in video_rows
        if story:
            description = STORY_DESCRIPTION
        elif i in no_desc:
            description = NO_DESCRIPTION
        else:
            description = choice(pools.descriptions[cat])
            if rand() < nbsp_rate:
                cut = description.find(" ", len(description) // 3)
                description = description[:cut] + "\u00a0" + description[cut + 1:] if cut > 0 else description + "\u00a0"
            if rand() < ellipsis_rate:
                description = description + "…"
        broken = i in image_error
        if i in user_error:
            poster, followers = USER_INFO_ERROR, USER_INFO_ERROR
        else:
            poster, followers = choice(pools.posters), _follower_count(rng)
        pins.append({
            "index": i,
            "unique_id": uid,
            "title": choice(pools.titles[cat]),
            "description": description,
            "poster_name": poster,
            "follower_count": followers,
            "tag_list": NO_TAGS if i in no_tags else _tag_list(rng, pools.tags[cat]),
            "is_image_or_video": STORY if story else "video" if video else "image",
            "image_src": IMAGE_SRC_ERROR if broken else _image_src(rng, video),
            "downloaded": 0 if broken else 1,
            "save_location": f"Local save in /data/{cat}",
            "category": cat,
        })
    return pins


def _faker(seed: int):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


def _timestamp(rng: random.Random, start: datetime, seconds: int) -> str:
    return (start + timedelta(seconds=rng.randrange(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def generate_geo(inds: list[int], seed: int = DEFAULT_SEED) -> list[dict]:
    """One geo row per `ind`: timestamp 2017–2022, uniform coordinates, ~150 long country names."""
    from faker.providers.address.en_US import Provider as Address

    rng = random.Random(f"geo-{seed}")
    countries = rng.sample(sorted(Address.countries), COUNTRY_POOL_SIZE)
    start = datetime(2017, 1, 1)
    span = int((datetime(2023, 1, 1) - start).total_seconds())
    return [{
        "ind": ind,
        "timestamp": _timestamp(rng, start, span),
        "latitude": round(rng.uniform(-90, 90), 4),
        "longitude": round(rng.uniform(-180, 180), 4),
        "country": rng.choice(countries),
    } for ind in inds]


def _age(rng: random.Random) -> int:
    # 20 is the most common age; the rest fall off towards 60
    if rng.random() < 0.12:
        return 20
    return min(60, 21 + int(rng.expovariate(1 / 12)))


def generate_users(inds: list[int], seed: int = DEFAULT_SEED) -> list[dict]:
    """One user row per `ind`: Faker names, age 20–60 (20 most common), joined 2015–2017."""
    fake = _faker(seed)
    firsts = [fake.first_name() for _ in range(1500)]
    lasts = [fake.last_name() for _ in range(1500)]
    rng = random.Random(f"user-{seed}")
    start = datetime(2015, 1, 1)
    span = int((datetime(2018, 1, 1) - start).total_seconds())
    return [{
        "ind": ind,
        "first_name": rng.choice(firsts),
        "last_name": rng.choice(lasts),
        "age": _age(rng),
        "date_joined": _timestamp(rng, start, span),
    } for ind in inds]


def generate(n_pins: int = DEFAULT_PINS, seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    """The whole dataset: {"pin": [...], "geo": [...], "user": [...]}, one geo and user row per ind."""
    pins = generate_pins(n_pins, seed=seed)
    inds = [p["index"] for p in pins]
    return {"pin": pins, "geo": generate_geo(inds, seed=seed), "user": generate_users(inds, seed=seed)}


def write_jsonl(dataset: dict[str, list[dict]], out: Path) -> dict[str, Path]:
    """Write `<out>/<entity>.jsonl` (UTF-8, one JSON object a line); return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for entity, rows in dataset.items():
        path = out / f"{entity}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False))
                handle.write("\n")
        paths[entity] = path
    return paths
