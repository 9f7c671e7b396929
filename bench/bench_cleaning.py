"""Benchmark: the cleaning library against the identity job and against Python-UDF cleaning.

Generates N raw dirty pins as JSON lines, then in one Spark session times:
  (a) identity  - read the JSON (all fields as strings), write Parquet, no cleaning
  (b) cleaned   - the same read, clean_pin (Spark SQL functions), write the clean rows as Parquet
  (c) udf       - the same read, the same rules as row-at-a-time Python UDFs (one per column, the
                  way most public implementations of this project do it), write Parquet
and writes bench/results/cleaning.json. Targets: cleaned/identity <= 2.5, udf/cleaned >= 2.

    .venv/bin/python bench/bench_cleaning.py --rows 300000
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click

CATEGORIES = (
    "christmas", "tattoos", "quotes", "art", "education", "home-decor", "travel", "mens-fashion",
    "vehicles", "diy-and-crafts", "finance", "event-planning", "beauty",
)
WORDS = (
    "cozy", "winter", "cabin", "ideas", "diy", "easy", "modern", "vintage", "café", "crème",
    "зимний", "домик", "♔", "❄️", "😀", "quote", "tattoo", "travel", "beach", "living", "room",
    "decor", "gift", "budget", "finance", "party", "makeup", "car", "art", "learn",
)


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def synthetic_pin(rng: random.Random, index: int) -> dict:
    """One realistic dirty pin: placeholders, NBSPs, `…`, emoji, k/M counts, tag strings."""
    category = rng.choice(CATEGORIES)
    user_error = rng.random() < 0.03
    story = rng.random() < 0.08
    tags = [_words(rng, 1, 3) for _ in range(9)]
    roll = rng.random()
    if roll < 0.02:
        tag_list = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
    elif roll < 0.05:
        tag_list = ",".join("#" + tags[0].replace(" ", ""))
    else:
        tag_list = ",".join(("#" if rng.random() < 0.2 else "") + t for t in tags)
    count = rng.choice([f"{rng.randint(1, 999)}k", f"{rng.randint(1, 9)}M", str(rng.randint(0, 999)),
                        f"{rng.randint(1, 99)}.{rng.randint(1, 9)}k", f"{rng.randint(1, 9)},{rng.randint(100, 999)}"])
    return {
        "index": index if rng.random() > 0.01 else f" {index} ",
        "unique_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng.random() > 0.005 else "bad-id",
        "title": "No Title Data Available" if rng.random() < 0.02 else _words(rng, 3, 9).title() + ("\u00a0" if rng.random() < 0.3 else ""),
        "description": ("No description available Story format" if story else
                        "No description available" if rng.random() < 0.02 else
                        _words(rng, 10, 40).replace(" ", "\u00a0", 2) + "…"),
        "poster_name": "User Info Error" if user_error else _words(rng, 1, 3).title(),
        "follower_count": "User Info Error" if user_error else count,
        "tag_list": tag_list,
        "is_image_or_video": "multi-video(story page format)" if story else rng.choice(["image"] * 29 + ["video"]),
        "image_src": "Image src error." if rng.random() < 0.02 else
                     f"https://i.pinimg.com/originals/{rng.getrandbits(32):08x}/{rng.getrandbits(64):016x}.jpg",
        "downloaded": rng.choice([0, 1, 1, 1]),
        "save_location": f"Local save in /data/{category}",
        "category": category,
    }


def write_raw_pins(path: Path, rows: int, seed: int = 7) -> str:
    """Write `rows` raw pins as JSON lines, sampled with replacement from a pool like the emulator."""
    try:
        from pinterest_assets.ingest import datagen  # the project's generator, when it exists
    except ImportError:
        datagen = None
    source = "bench/bench_cleaning.py synthetic_pin"
    pool = None
    if datagen is not None and hasattr(datagen, "generate_pins"):
        try:
            pool = [json.dumps(r, ensure_ascii=False) for r in datagen.generate_pins(20_000, seed=seed)]
            source = "pinterest_assets.ingest.datagen.generate_pins"
        except TypeError:
            pool = None
    rng = random.Random(seed)
    if pool is None:
        pool = [json.dumps(synthetic_pin(rng, i), ensure_ascii=False) for i in range(20_000)]
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(rows):
            handle.write(rng.choice(pool))
            handle.write("\n")
    return source


# --------------------------------------------------------------------------- the UDF baseline
# The same rules as plain Python, one UDF per column, as public implementations of this project do.

_ZW = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def py_normalize(text):
    if text is None:
        return None
    text = re.sub(r"\s+", " ", text.translate(_ZW)).strip()
    return text or None


def py_placeholder(text, placeholders):
    return None if text is not None and text.lower() in placeholders else text


def py_title(t):
    return py_placeholder(py_normalize(t), {"no title data available", "untitled"})


def py_description(t):
    return py_placeholder(py_normalize(t), {"no description available story format", "no description available", "untitled"})


def py_poster(t):
    return py_placeholder(py_normalize(t), {"user info error"})


def py_followers(t):
    if t is None:
        return None
    t = re.sub(r"[\s,]", "", t)
    m = re.fullmatch(r"((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([kKmMbB]?)", t)
    if not m:
        return None
    from decimal import ROUND_HALF_UP, Decimal

    mult = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}[m.group(2).lower()]
    v = int((Decimal(m.group(1)) * mult).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return v if v < 2**63 else None


def py_tags(t):
    if t is None:
        return None
    pieces = None
    if t.lstrip().startswith("["):
        try:
            pieces = [p for p in json.loads(t) if isinstance(p, str)]
        except ValueError:
            pieces = None
    if pieces is None:
        pieces = t.split(",")
    if all(len(p) <= 1 for p in pieces):
        pieces = ["".join(pieces)]
    out = []
    for p in pieces:
        p = py_normalize(p)
        p = re.sub(r"^#+ ?", "", p) if p else p
        if p and p not in out:
            out.append(p)
    if not out or (len(out) == 1 and out[0].lower() == "no tags available"):
        return None
    return out


def py_media(t):
    t = (py_normalize(t) or "").lower()
    return t if t in ("image", "video") else "story" if "story" in t else None


def py_image_src(t):
    t = py_placeholder(py_normalize(t), {"image src error.", "image src error"})
    return t if t and t.lower().startswith(("http://", "https://")) else None


def py_downloaded(t):
    t = (py_normalize(t) or "").lower()
    return True if t in ("1", "true") else False if t in ("0", "false") else None


def py_save_location(t):
    t = re.sub(r"(?i)^local save in *", "", py_normalize(t) or "")
    return t if t.startswith("/") else None


def py_category(t):
    t = py_normalize(t)
    return t.lower() if t else None


def py_ind(t):
    t = (t or "").strip()
    return int(t) if re.fullmatch(r"[+-]?\d+", t) and abs(int(t)) < 2**63 else None


def py_uuid(t):
    t = (py_normalize(t) or "").lower()
    return t if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", t) else None


def udf_clean_pin(df):
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, BooleanType, LongType, StringType

    def u(fn, rtype=StringType()):
        return F.udf(fn, rtype)

    staged = df.select(
        u(py_ind, LongType())(F.coalesce("index", "ind")).alias("ind"),
        u(py_uuid)("unique_id").alias("unique_id"),
        u(py_title)("title").alias("title"),
        u(py_description)("description").alias("description"),
        u(py_poster)("poster_name").alias("poster_name"),
        u(py_followers, LongType())("follower_count").alias("follower_count"),
        u(py_tags, ArrayType(StringType()))("tag_list").alias("tag_list"),
        u(py_media)("is_image_or_video").alias("is_image_or_video"),
        u(py_image_src)("image_src").alias("image_src"),
        u(py_downloaded, BooleanType())("downloaded").alias("downloaded"),
        u(py_save_location)("save_location").alias("save_location"),
        u(py_category)("category").alias("category"),
    )
    return staged.where(F.col("ind").isNotNull() & F.col("unique_id").isNotNull())


# --------------------------------------------------------------------------- timing


def _timed(label: str, write) -> float:
    start = time.perf_counter()
    write()
    elapsed = time.perf_counter() - start
    click.echo(f"  {label:<9} {elapsed:8.1f} s", err=True)
    return elapsed


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30).stderr
        return out.splitlines()[0].strip() if out else "java ?"
    except OSError:
        return "java ?"


@click.command()
@click.option("--rows", default=1_000_000, show_default=True, help="Raw pins to generate.")
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              default=Path(__file__).resolve().parent / "results" / "cleaning.json", show_default=True)
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Scratch folder (default: a temp folder, removed afterwards).")
def main(rows: int, out_path: Path, workdir: Path | None) -> None:
    """Time identity vs cleaned vs Python-UDF cleaning of generated raw pins."""
    import pyspark
    from pyspark.sql.types import StringType, StructField, StructType

    from pinterest_assets.cleaning import clean_pin
    from pinterest_assets.cleaning.common import RAW_FIELDS
    from pinterest_assets.resources.spark import build_spark_session

    scratch = Path(workdir or tempfile.mkdtemp(prefix="bench-cleaning-"))
    scratch.mkdir(parents=True, exist_ok=True)
    raw_path = scratch / "raw_pins.jsonl"
    click.echo(f"generating {rows:,} raw pins -> {raw_path}", err=True)
    source = write_raw_pins(raw_path, rows)

    spark = build_spark_session(app_name="bench-cleaning")
    schema = StructType([StructField(name, StringType()) for name in RAW_FIELDS["pin"]])

    def read():
        return spark.read.schema(schema).json(str(raw_path))

    def write(df, name):
        df.write.mode("overwrite").parquet(str(scratch / name))

    # warm-up: JIT, file listing and codegen caches, so the first timed job isn't penalized
    write(read().limit(20_000), "warmup-identity")
    write(clean_pin(read().limit(20_000))[0], "warmup-cleaned")

    click.echo(f"timing on {rows:,} rows:", err=True)
    identity = _timed("identity", lambda: write(read(), "identity"))
    cleaned = _timed("cleaned", lambda: write(clean_pin(read())[0], "cleaned"))
    udf = _timed("udf", lambda: write(udf_clean_pin(read()), "udf"))
    clean_rows = spark.read.parquet(str(scratch / "cleaned")).count()
    udf_rows = spark.read.parquet(str(scratch / "udf")).count()

    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"pyspark {pyspark.__version__}, {_java_version()}, {rows:,} rows, generator {source}"
    )
    results = [
        {"measure": "cleaned / identity time", "project": round(cleaned, 2), "baseline": round(identity, 2),
         "ratio": round(cleaned / identity, 2), "target": "<= 2.5", "unit": "s", "machine": machine},
        {"measure": "python UDF / cleaned time", "project": round(cleaned, 2), "baseline": round(udf, 2),
         "ratio": round(udf / cleaned, 2), "target": ">= 2", "unit": "s", "machine": machine},
    ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    click.echo(f"clean rows written: Spark SQL {clean_rows:,}, UDF {udf_rows:,}", err=True)
    click.echo("| measure | this project | baseline | ratio | target |")
    click.echo("|---|---|---|---|---|")
    for r in results:
        click.echo(f"| {r['measure']} | {r['project']} s | {r['baseline']} s | {r['ratio']} | {r['target']} |")
    click.echo(f"\n{machine}; written to {out_path}")
    if workdir is None:
        shutil.rmtree(scratch, ignore_errors=True)
    spark.stop()


if __name__ == "__main__":
    sys.exit(main())
