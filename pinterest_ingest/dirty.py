"""Generated records made dirtier on purpose: every whitespace and zero-width character, spread and
array tags, odd numbers, keys, flags and timestamps. The cleaning equivalence test and the cleaning
benchmark draw from these, so every fast path and fallback of the cleaning runs."""

from __future__ import annotations

import random

# The characters the cleaning turns into a space (whitespace) or removes (zero-width); a test
# checks these equal the cleaning library's own lists.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680"
              + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000")
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

# Characters the fast paths must either leave alone or send to the exact slow path.
NASTY = list(WHITESPACE + ZERO_WIDTH) + [
    " ", "  ", "\u00a0", "\u00a0\u00a0", "#", "##", ",", ", ", " ,", ",,", "…", "😀", "❤️", "Ж", "É", "ß", "İ",
    "\ufffd", "\u2061", "\u206f", "\u200e", "\x7f", "\x01", "\x00", "\u2027", "\u2030", "\u205e", "\u3001",
    "\ufeff", "\ufffe", "\U0001f600", "[", "]", "\"", "\\", "k", "M", ".", "-", "+", "e", "/",
]


def mutate_text(rng: random.Random, value: str) -> str:
    chars = list(value)
    for _ in range(rng.randint(1, 4)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(NASTY))
    text = "".join(chars)
    roll = rng.random()
    if roll < 0.1:
        text = text.upper()
    elif roll < 0.2:
        text = f" {text} "
    elif roll < 0.25:
        text = ""
    return text


def mutated_tags(rng: random.Random, value: str):
    roll = rng.random()
    if roll < 0.15:  # character-spread, with or without a hashtag and dirt
        word = rng.choice(["#travel", "Home Decor", "#", "a", "Ж😀", "No Tags Available", "#\u00a0x", "x\u200by"])
        return ",".join(word)
    if roll < 0.25:  # a JSON array, dirty elements included
        return [mutate_text(rng, t) if rng.random() < 0.5 else t for t in value.split(",")[:5]] + [rng.choice(NASTY)]
    if roll < 0.3:
        return "[" + value  # looks like an array, isn't one
    if roll < 0.35:
        return rng.choice(["No Tags Available", "no tags available", "", ",", " , ", "#,#", "ab", "a,b"])
    pieces = value.split(",")
    return ",".join(mutate_text(rng, p) if rng.random() < 0.3 else p for p in pieces)


def mutated_pin(rng: random.Random, pin: dict) -> dict:
    out = dict(pin)
    for field in ("title", "description", "poster_name", "is_image_or_video", "image_src", "save_location",
                  "category"):
        if out.get(field) is not None and rng.random() < 0.5:
            out[field] = mutate_text(rng, str(out[field]))
    if rng.random() < 0.6:
        out["tag_list"] = mutated_tags(rng, out["tag_list"])
    roll = rng.random()
    if roll < 0.2:
        out["follower_count"] = mutate_text(rng, out["follower_count"])
    elif roll < 0.3:
        out["follower_count"] = rng.choice([0, 437, 1.5e7, 1500.5, -3, "1,234,567", " 12 K ", "2.5E7", "1e3k", "1.2.3",
                                          "12k\n", "\u00a012k", "123456789B", "1234567890k", "0k"])
    roll = rng.random()
    if roll < 0.1:
        out["unique_id"] = rng.choice([" ", "\u00a0", "\u200b", "\t"]) + out["unique_id"].upper() + " "
    elif roll < 0.15:
        out["unique_id"] = out["unique_id"].replace("-", "")
    roll = rng.random()
    if roll < 0.1:
        out["index"] = f" {out['index']} "
    elif roll < 0.15:
        out["index"] = rng.choice(["+7", "007", "-0", "7.0", "x", 7.5, None, "9223372036854775808"])
    if rng.random() < 0.1:
        out["downloaded"] = rng.choice(["1", "true", " TRUE ", "0", "false", "yes", 1, 0, True, None])
    return out


def mutated_geo(rng: random.Random, geo: dict) -> dict:
    out = dict(geo)
    if rng.random() < 0.3:
        out["country"] = mutate_text(rng, out["country"])
    if rng.random() < 0.2:
        out["latitude"] = rng.choice([" 45.5 ", "\u00a0-12", "91", "north", "1\u200b2", "NaN", 1e3, "-90"])
    if rng.random() < 0.2:
        out["timestamp"] = rng.choice([" 2020-08-28 03:52:47 ", "2020-08-28T05:52:47.5+02:00", "2020-02-30 00:00:00", "x"])
    if rng.random() < 0.1:
        out["ind"] = rng.choice([" 3 ", "three", None])
    return out


def mutated_user(rng: random.Random, user: dict) -> dict:
    out = dict(user)
    for field in ("first_name", "last_name"):
        if rng.random() < 0.4:
            out[field] = mutate_text(rng, out[field])
    if rng.random() < 0.2:
        out["age"] = rng.choice([" 34 ", "12", "34.5", 121, "\u00a040"])
    if rng.random() < 0.1:
        out["ind"] = rng.choice([" 3 ", "three", None])
    return out
