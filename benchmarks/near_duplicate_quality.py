"""Near-duplicate quality: how well `near_duplicates.Rule` tells re-pins from distinct pictures.

Synthetic, seeded corpora (nothing downloaded): low-texture pictures (quote cards, flat-colour
graphics, text screenshots), photo-like ones (crops of scikit-learn's two sample photos, the demo
crawl's `category_image` pictures, smooth random textures) and colour variants (a picture with its
channels permuted or its hue turned). Each picture is served as a JPEG (quality 90) and re-pinned by
six families of transforms: resize to 50-95 %, JPEG quality 60-95, a trim of 1-8 px on some sides, a
white or black border of 1-8 px, resize + JPEG, and trim or border + resize + JPEG. Fingerprints are
`images.fingerprints` of the decoded RGB picture; the hash stage of rules (the candidates, before
the pictures confirm them: benchmarks/near_duplicate_families.py) is judged by
`near_duplicates.matches`, groups by `near_duplicate_groups` and `close_pairs` (at most `clean.near_duplicate_candidates`
comparisons a fingerprint).

Reported: 1. distance distributions of re-pin pairs and of distinct pairs per corpus; 2. per candidate
rule, recall on re-pins (overall and per family), the share of distinct pairs matched per corpus
(all pairs among --n pictures) and the share of colour variants matched; 3. the rules of a grid
that meet the requirement (recall >= 0.99, < 0.1 % false pairs on every low-texture corpus), best
first; 4. --rule (the defaults) per corpus and family, its worst misses; 5. groups against
connected components on the quote cards with their re-pins (chaining); 6. the time `close_pairs` takes.

    PYTHONPATH=scripts .venv/bin/python benchmarks/near_duplicate_quality.py

About 5 minutes on 2 CPUs (46,000 pictures fingerprinted); --quick (250 pictures per corpus) about
1.5; --search-timing adds `close_pairs` over all 46,000 fingerprints (minutes).
"""

import argparse
import colorsys
import io
import multiprocessing
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pinclass.config import repository_config  # noqa: E402
from pinclass.demo_crawl import category_image  # noqa: E402
from pinclass.images import fingerprints  # noqa: E402
from pinclass.near_duplicates import HASH_COLUMNS, Rule, close_pairs, matches, near_duplicate_groups  # noqa: E402

SERVED_QUALITY = 90  # the crawl's copy of every picture is a JPEG at this quality
SEARCH = repository_config()["clean"]["near_duplicate_candidates"]  # the search's bound: the config's
SIMILARITY = repository_config()["clean"]["near_duplicate_similarity"]  # (`as_hashes` pictures always agree)


def hash_rule(dhash: int, phash: int, colour: int, candidates: int = SEARCH) -> Rule:
    return Rule(dhash, phash, colour, candidates, SIMILARITY)


UNUSED = hash_rule(64, 64, 255)  # a threshold this large never rejects a pair


# ---------------------------------------------------------------------------------------- corpora

def pin_size(rng, aspect=(1.0, 1.8)) -> tuple[int, int]:
    width = int(rng.integers(236, 601))
    return width, int(width * rng.uniform(*aspect))


def hsv(h, s, v) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def text_line(draw, rng, x0, y, width, size, colour, align="left", box_width=None) -> None:
    """A line of 'words' about `width` px long: glyph-sized strokes (some with ascenders or
    descenders), one glyph's width between words; centred in box_width when align is centre."""
    char_w, x_height = max(2, int(size * 0.55)), max(2, int(size * 0.5))
    base, x, glyphs = y + size, 0, []
    while x < width:
        for _ in range(int(rng.integers(1, 10))):
            if x + char_w > width:
                break
            top = base - (size if rng.random() < 0.25 else x_height)
            bottom = base + (int(size * 0.25) if rng.random() < 0.1 else 0)
            glyphs.append((x, top, x + max(1, int(char_w * 0.75)) - 1, bottom))
            x += char_w
        x += char_w
    used = max((g[2] for g in glyphs), default=0)
    shift = x0 + ((box_width - used) // 2 if align == "centre" and box_width else 0)
    for left, top, right, bottom in glyphs:
        draw.rectangle([left + shift, top, right + shift, bottom], fill=colour)


def quote_card(rng):
    """Dark 'text' on white or a light plain colour: 2-8 lines, centred or left, maybe a title and an author."""
    w, h = pin_size(rng)
    bg = (255, 255, 255) if rng.random() < 0.5 else hsv(rng.random(), rng.uniform(0.03, 0.3), rng.uniform(0.88, 1))
    ink = hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0, 0.3))
    image = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(image)
    margin = int(w * rng.uniform(0.06, 0.15))
    text_w, size = w - 2 * margin, int(w * rng.uniform(0.035, 0.08))
    spacing, lines = int(size * rng.uniform(1.3, 1.9)), int(rng.integers(2, 9))
    align, title = ("centre" if rng.random() < 0.6 else "left"), rng.random() < 0.4
    block = lines * spacing + (int(size * 2.5) if title else 0)
    y = int(rng.uniform(margin, max(margin + 1, h - margin - block))) if rng.random() < 0.5 else (h - block) // 2
    if title:
        title_size = int(size * rng.uniform(1.4, 2.0))
        text_line(draw, rng, margin, y, int(text_w * rng.uniform(0.4, 1)), title_size, ink, align, text_w)
        y += int(title_size * 1.8)
    for i in range(lines):
        length = text_w if i < lines - 1 and rng.random() < 0.7 else int(text_w * rng.uniform(0.25, 1))
        text_line(draw, rng, margin, y, length, size, ink, align, text_w)
        y += spacing
    if rng.random() < 0.4:
        text_line(draw, rng, margin, y + size, int(text_w * rng.uniform(0.2, 0.4)), int(size * 0.7), ink, align, text_w)
    return image, None


def flat_graphic(rng):
    """1-5 flat shapes (rectangles, ellipses, triangles, full-width bands) on a flat background."""
    w, h = pin_size(rng, (0.8, 1.6))
    image = Image.new("RGB", (w, h), hsv(rng.random(), rng.uniform(0, 1), rng.uniform(0.2, 1)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 6))):
        colour = hsv(rng.random(), rng.uniform(0, 1), rng.uniform(0.1, 1))
        sw, sh = (int(s * rng.uniform(0.1, 0.7)) for s in (w, h))
        x, y = int(rng.integers(-sw // 4, w - sw // 2)), int(rng.integers(-sh // 4, h - sh // 2))
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.rectangle([x, y, x + sw, y + sh], fill=colour)
        elif kind == 1:
            draw.ellipse([x, y, x + sw, y + sh], fill=colour)
        elif kind == 2:
            draw.polygon([tuple(p) for p in rng.integers([x, y], [x + sw + 1, y + sh + 1], (3, 2)).tolist()],
                         fill=colour)
        else:
            draw.rectangle([0, y, w, y + max(2, sh // 5)], fill=colour)
    return image, None


def text_screenshot(rng):
    """A tweet (avatar, name, handle, many thin lines of text) or a chat (bubbles), light or dark mode."""
    w, h = pin_size(rng, (0.6, 2.0))
    dark = rng.random() < 0.15
    bg = (21, 32, 43) if dark else (255, 255, 255)
    ink = (230, 233, 234) if dark else hsv(0, 0, rng.uniform(0, 0.25))
    grey = (110, 118, 125) if dark else (101, 119, 134)
    image = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(image)
    margin = int(w * rng.uniform(0.03, 0.08))
    size = max(6, int(w * rng.uniform(0.022, 0.04)))
    spacing, y, chat = int(size * rng.uniform(1.4, 1.8)), margin, rng.random() < 0.4
    if not chat:
        r = int(size * 2.2)
        draw.ellipse([margin, y, margin + r, y + r], fill=hsv(rng.random(), 0.5, 0.7))
        text_line(draw, rng, margin + r + size, y + 2, int(w * rng.uniform(0.15, 0.35)), size, ink)
        text_line(draw, rng, margin + r + size, y + 2 + spacing, int(w * rng.uniform(0.15, 0.3)), size, grey)
        y += r + spacing
    while y < h - margin - spacing:
        if chat:
            lines, mine, bw = int(rng.integers(1, 4)), rng.random() < 0.5, int(w * rng.uniform(0.3, 0.7))
            x = w - margin - bw if mine else margin
            bubble = (0, 132, 255) if mine else ((58, 59, 60) if dark else (228, 230, 235))
            draw.rounded_rectangle([x, y, x + bw, y + lines * spacing + size], radius=size, fill=bubble)
            for i in range(lines):
                length = int((bw - size) * (1 if i < lines - 1 else rng.uniform(0.3, 1)))
                text_line(draw, rng, x + size // 2, y + size // 2 + i * spacing, length, size,
                          (255, 255, 255) if mine else ink)
            y += lines * spacing + size + int(size * 0.8)
        else:
            length = w - 2 * margin if rng.random() < 0.8 else int((w - 2 * margin) * rng.uniform(0.1, 1))
            text_line(draw, rng, margin, y, length, size, ink)
            y += spacing * (2 if rng.random() < 0.12 else 1)
    return image, None


_PHOTOS: list = []


def photo_crop(rng):
    """A crop (20-75 % of the width, aspect 0.7-1.6) of china.jpg or flower.jpg, maybe mirrored, at pin
    size; the box comes back so that overlapping crops are not counted as distinct."""
    if not _PHOTOS:
        from sklearn.datasets import load_sample_images
        _PHOTOS.extend(Image.fromarray(a) for a in load_sample_images().images)
    source = int(rng.integers(0, 2))
    W, H = _PHOTOS[source].size
    cw = int(W * rng.uniform(0.2, 0.75))
    ch = min(H, int(cw * rng.uniform(0.7, 1.6)))
    x, y = int(rng.integers(0, W - cw + 1)), int(rng.integers(0, H - ch + 1))
    w = int(rng.integers(236, 601))
    image = _PHOTOS[source].crop((x, y, x + cw, y + ch)).resize((w, int(w * ch / cw)), Image.Resampling.LANCZOS)
    mirrored = bool(rng.random() < 0.5)
    if mirrored:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image, (source, x, y, x + cw, y + ch, mirrored)


def demo_picture(rng):
    """The demo crawl's picture of one of 20 categories (hue, shape, smooth or noisy), 236-600 px square."""
    return category_image(int(rng.integers(0, 20)), rng, int(rng.integers(236, 601))), None


def smooth_texture(rng):
    """Random noise on a 2-9 × 2-9 grid, mostly in brightness, around one colour, upscaled bicubically."""
    w, h = pin_size(rng, (0.8, 1.6))
    cells = rng.integers(2, 10, 2)
    noise = rng.normal(0, 1, (cells[1], cells[0], 1)) + 0.35 * rng.normal(0, 1, (cells[1], cells[0], 3))
    base = np.array(hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.85)), dtype=float)
    small = np.clip(base + rng.uniform(15, 60) * noise, 0, 255).astype(np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), None


CORPORA = {"quote cards": quote_card, "flat graphics": flat_graphic, "text screenshots": text_screenshot,
           "photo crops": photo_crop, "demo pictures": demo_picture, "smooth textures": smooth_texture}
LOW_TEXTURE = ("quote cards", "flat graphics", "text screenshots")
COLOURFUL = ("flat graphics", "photo crops", "demo pictures", "smooth textures")  # colour variants made of these


# ------------------------------------------------------------------------------------- transforms

def jpeg(image, quality: int):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "lanczos": Image.Resampling.LANCZOS}


def resized(image, rng):
    scale, name = rng.uniform(0.5, 0.95), str(rng.choice(list(FILTERS)))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, FILTERS[name]), f"resize {scale:.0%} {name}"


def trimmed(image, rng):
    sides = rng.permutation(4)[: int(rng.integers(1, 5))]
    cut = np.zeros(4, dtype=int)
    cut[sides] = rng.integers(1, 9, len(sides))  # left, top, right, bottom
    box = (cut[0], cut[1], image.width - cut[2], image.height - cut[3])
    return image.crop(box), f"trim {'/'.join(map(str, cut))} px"


def bordered(image, rng):
    sides = np.arange(4) if rng.random() < 0.5 else rng.permutation(4)[: int(rng.integers(1, 4))]
    pad = np.zeros(4, dtype=int)
    pad[sides] = rng.integers(1, 9, len(sides))
    colour = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    canvas = Image.new("RGB", (image.width + pad[0] + pad[2], image.height + pad[1] + pad[3]), colour)
    canvas.paste(image, (int(pad[0]), int(pad[1])))
    return canvas, f"{'white' if colour[0] else 'black'} border {'/'.join(map(str, pad))} px"


def reencoded(image, rng):
    quality = int(rng.integers(60, 96))
    return jpeg(image, quality), f"JPEG q{quality}"


def chain(*steps):
    def apply(image, rng):
        notes = []
        for step in steps:
            if isinstance(step, tuple):  # one of several, at random
                step = step[int(rng.integers(0, len(step)))]
            image, note = step(image, rng)
            notes.append(note)
        return image, ", ".join(notes)
    return apply


FAMILIES = {"resize 50-95 %": chain(resized), "JPEG q60-95": chain(reencoded), "trim 1-8 px": chain(trimmed),
            "border 1-8 px": chain(bordered), "resize + JPEG": chain(resized, reencoded),
            "trim/border + resize + JPEG": chain((trimmed, bordered), resized, reencoded)}


def colour_variant(image, rng):
    """Channels permuted (one of the five other orders) or hue turned by 60-300°."""
    if rng.random() < 0.5:
        order = [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)][int(rng.integers(0, 5))]
        return Image.merge("RGB", [image.getchannel(c) for c in order]), "channels " + "".join("RGB"[c] for c in order)
    turn = int(rng.integers(43, 214))  # of 256
    h, s, v = image.convert("HSV").split()
    h = h.point(lambda value: (value + turn) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB"), f"hue +{turn * 360 // 256}°"


# ---------------------------------------------------------------------------------- fingerprints

def fingerprint(image) -> tuple[int, int, int]:
    found = fingerprints(image)
    return found["dhash"], found["phash"], found["colour"]


def recolouring(before, after) -> float:
    """How visible a recolouring is: the mean over pixels of the largest channel change, 64×64 thumbnails."""
    a, b = (np.asarray(x.resize((64, 64), Image.Resampling.BOX), dtype=np.int16) for x in (before, after))
    return float(np.abs(a - b).max(-1).mean())


def picture_fingerprints(task):
    """One picture: fingerprints of its served copy; with re-pins, of one re-pin per family and (for a
    colourful corpus) of a colour variant, the notes on each and how visible the recolouring is."""
    seed, k, i, with_repins = task
    name = list(CORPORA)[k]
    rng = np.random.default_rng([seed, k, i])
    picture, box = CORPORA[name](rng)
    served = jpeg(picture, SERVED_QUALITY)
    out = {"served": fingerprint(served), "box": box}
    if with_repins:
        out["repins"], out["notes"] = [], []
        for f, transform in enumerate(FAMILIES.values()):
            copy, note = transform(served, np.random.default_rng([seed, k, i, 1 + f]))
            out["repins"].append(fingerprint(copy))
            out["notes"].append(note)
        if name in COLOURFUL:
            variant, note = colour_variant(picture, np.random.default_rng([seed, k, i, 99]))
            out["variant"], out["change"] = fingerprint(jpeg(variant, SERVED_QUALITY)), recolouring(picture, variant)
            out["notes"].append(note)
    return out


def corpus_fingerprints(n: int, repins: int, seed: int, jobs: int) -> dict:
    """Per corpus: served (n, 3), repins (repins, families, 3), variant (repins, 3) and change (repins,)
    for colourful corpora, notes, boxes."""
    tasks = [(seed, k, i, i < repins) for k in range(len(CORPORA)) for i in range(n)]
    with multiprocessing.Pool(jobs) as pool:
        results = pool.map(picture_fingerprints, tasks, chunksize=20)
    data = {}
    for k, name in enumerate(CORPORA):
        chunk = results[k * n:(k + 1) * n]
        with_repins = chunk[:repins]
        data[name] = {"served": np.array([r["served"] for r in chunk], dtype=np.uint64),
                      "repins": np.array([r["repins"] for r in with_repins], dtype=np.uint64),
                      "notes": [r["notes"] for r in with_repins], "boxes": [r["box"] for r in chunk]}
        if name in COLOURFUL:
            data[name]["variant"] = np.array([r["variant"] for r in with_repins], dtype=np.uint64)
            data[name]["change"] = np.array([r["change"] for r in with_repins])
    return data


def as_hashes(prints: np.ndarray) -> dict:
    """(m, 3) fingerprint rows → the {column: array} mapping near_duplicates takes, with pictures that
    always agree (flat thumbnails, content filling the picture): this benchmark judges the hashes,
    near_duplicate_families.py the confirmation on the pictures."""
    m = len(prints)
    return {**{column: prints[:, c] for c, column in enumerate(HASH_COLUMNS)}, "width": np.ones(m),
            "height": np.ones(m), "box": np.full(m, 0xFFFF_FFFF, dtype=np.uint64),
            "thumbnail": np.zeros((m, 192), dtype=np.uint8)}


# ------------------------------------------------------------------------------------------ pairs

def distinct_pairs(boxes: list) -> tuple[np.ndarray, int]:
    """(2, m) every pair of a corpus's pictures but pairs of overlapping crops (same photo, same
    mirroring, intersection over union >= 0.5), and how many such pairs were left out."""
    i, j = np.triu_indices(len(boxes), 1)
    if boxes[0] is None:
        return np.stack([i, j]), 0
    b = np.array(boxes, dtype=float)
    width = np.clip(np.minimum(b[i, 3], b[j, 3]) - np.maximum(b[i, 1], b[j, 1]), 0, None)
    height = np.clip(np.minimum(b[i, 4], b[j, 4]) - np.maximum(b[i, 2], b[j, 2]), 0, None)
    area = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    inter = width * height
    overlapping = (b[i, 0] == b[j, 0]) & (b[i, 5] == b[j, 5]) & (inter / (area[i] + area[j] - inter) >= 0.5)
    return np.stack([i[~overlapping], j[~overlapping]]), int(overlapping.sum())


def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, 3): dhash bits, phash bits, largest mean-colour channel difference, as `matches` measures
    them; for the distributions and the grid. Every figure a rule is reported with comes from
    `matches`, and the grid's counts are checked against it."""
    bits = np.bitwise_count(a[:, :2] ^ b[:, :2]).astype(np.int64)
    shifts = np.array([16, 8, 0], dtype=np.uint64)
    ca = ((a[:, 2:3] >> shifts) & np.uint64(255)).astype(np.int64)
    cb = ((b[:, 2:3] >> shifts) & np.uint64(255)).astype(np.int64)
    return np.column_stack([bits, np.abs(ca - cb).max(axis=1)])


class Counter:
    """Pairs within every rule at once: the 3-D histogram of (dhash, phash, colour) distances (colours
    over 64 apart in one bin), cumulated along each axis, so that within(rule) is one lookup."""

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a, self.b = a, b
        self.distances = distances = pair_distances(a, b)
        self.total = len(distances)
        index = np.ravel_multi_index((distances[:, 0], distances[:, 1], np.minimum(distances[:, 2], 65)),
                                     (65, 65, 66))
        histogram = np.bincount(index, minlength=65 * 65 * 66).reshape(65, 65, 66)
        self.cumulative = histogram.cumsum(0).cumsum(1).cumsum(2).astype(np.int32)

    def within(self, rule: Rule) -> int:
        if 64 < rule.colour < 255:
            d = self.distances
            return int(((d[:, 0] <= rule.dhash) & (d[:, 1] <= rule.phash) & (d[:, 2] <= rule.colour)).sum())
        return int(self.cumulative[min(rule.dhash, 64), min(rule.phash, 64), min(rule.colour, 65)])

    def matched(self, rule: Rule) -> np.ndarray:
        """Which pairs match, by `near_duplicates.matches`."""
        hit = matches(as_hashes(self.a), as_hashes(self.b), rule)
        assert int(hit.sum()) == self.within(rule), rule  # the grid counts what the library decides
        return hit


# ----------------------------------------------------------------------------------------- report

def parse_rule(text: str) -> Rule:
    return hash_rule(*(int(v) for v in text.split(",")))


def rule_name(rule: Rule) -> str:
    parts = [f"dhash ≤ {rule.dhash}" if rule.dhash < 64 else "", f"phash ≤ {rule.phash}" if rule.phash < 64 else "",
             f"colour ≤ {rule.colour}" if rule.colour < 255 else ""]
    return ", ".join(p for p in parts if p) or "anything"


def percent(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f} %"


def quantiles(values: np.ndarray, qs) -> str:
    return " / ".join(f"{np.quantile(values, q, method='lower'):.0f}" for q in qs)


CANDIDATES = [hash_rule(4, 64, 255), hash_rule(8, 64, 255), hash_rule(12, 64, 255), hash_rule(64, 16, 255), hash_rule(64, 24, 255),
              hash_rule(10, 24, 255), hash_rule(8, 16, 8), hash_rule(10, 16, 6), hash_rule(10, 24, 6), hash_rule(11, 24, 7),
              hash_rule(12, 24, 8), hash_rule(12, 32, 8), hash_rule(12, 24, 16), hash_rule(16, 32, 16)]
RECOLOURED = 32  # a colour variant counts as clearly recoloured when `recolouring` is at least this


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pictures per corpus, all pairs of which are distinct")
    parser.add_argument("--repins", type=int, default=1000, help="of those, how many get re-pins and a colour variant")
    parser.add_argument("--quick", action="store_true", help="--n 250 --repins 250, for a first look")
    parser.add_argument("--rule", help="the rule to detail: dhash,phash,colour (default: config's clean.near_duplicate_*)")
    parser.add_argument("--search-timing", action="store_true",
                        help="also time close_pairs over every fingerprint (re-pins included: minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    n, repins = (250, 250) if args.quick else (args.n, min(args.repins, args.n))
    chosen = parse_rule(args.rule) if args.rule else Rule.from_config(repository_config()["clean"])
    families = list(FAMILIES)
    command = "PYTHONPATH=scripts " + shlex.join([sys.executable.replace(os.getcwd() + "/", ""), *sys.argv])
    print(f"# Near-duplicate quality\n\ncommand: `{command}`\n\n{n:,} pictures per corpus, {repins:,} of them with "
          f"{len(FAMILIES)} re-pins (one per family) and, in {', '.join(COLOURFUL)}, a colour variant; "
          f"{args.jobs} processes on {os.cpu_count()} CPUs\n")
    start = time.perf_counter()
    data = corpus_fingerprints(n, repins, args.seed, args.jobs)
    images = sum(len(d["served"]) + d["repins"].size // 3 + len(d.get("variant", ())) for d in data.values())
    print(f"fingerprints of {images:,} pictures: {time.perf_counter() - start:.0f} s\n")

    repin, distinct, variant, left_out = {}, {}, {}, {}
    for name, d in data.items():
        for f, family in enumerate(families):
            repin[name, family] = Counter(d["served"][:repins], d["repins"][:, f])
        pairs, left_out[name] = distinct_pairs(d["boxes"])
        distinct[name] = Counter(d["served"][pairs[0]], d["served"][pairs[1]])
        if name in COLOURFUL:
            variant[name] = Counter(d["served"][:repins], d["variant"])
    clearly = np.concatenate([data[c]["change"] >= RECOLOURED for c in COLOURFUL])

    print("## Distances\n\nRe-pins (a picture and its re-pin): 99th percentile / largest. Distinct pairs: 0.1st / "
          "1st percentile, the closest (a rule must stay below them). Colour variants: 1st / 10th percentile.\n")
    print("| corpus | distinct pairs | re-pin dhash | phash | colour | distinct dhash | phash | colour |")
    print("|---|---|---|---|---|---|---|---|")
    for name in CORPORA:
        near = np.concatenate([repin[name, f].distances for f in families])
        far = distinct[name].distances
        note = f" ({left_out[name]:,} pairs of overlapping crops left out)" if left_out[name] else ""
        print(f"| {name} | {len(far):,}{note} | " + " | ".join(quantiles(near[:, c], (0.99, 1)) for c in range(3))
              + " | " + " | ".join(quantiles(far[:, c], (0.001, 0.01)) for c in range(3)) + " |")
    far = np.concatenate([variant[c].distances for c in COLOURFUL])
    print(f"| colour variants | {len(far):,} ({int(clearly.sum()):,} clearly recoloured) | | | | "
          + " | ".join(quantiles(far[:, c], (0.01, 0.1)) for c in range(3)) + " |\n")

    def recall(rule, corpora=tuple(CORPORA), fams=tuple(families)):
        keys = [(c, f) for c in corpora for f in fams]
        return sum(repin[k].within(rule) for k in keys) / sum(repin[k].total for k in keys)

    def false_share(rule, corpora):
        return max(distinct[c].within(rule) / distinct[c].total for c in corpora)

    def variant_share(rule):
        return sum(variant[c].within(rule) for c in COLOURFUL) / sum(variant[c].total for c in COLOURFUL)

    photos = [c for c in CORPORA if c not in LOW_TEXTURE]
    print("## Candidate rules\n\nRecall: re-pins matched, all corpora, and the worst family. False: distinct pairs "
          "matched. Colour variants: variants matched to their original (all / clearly recoloured: the mean "
          f"pixel moved ≥ {RECOLOURED} levels on some channel). By `near_duplicates.matches`.\n")
    print("| rule | recall | worst family | " + " | ".join(f"false: {c}" for c in CORPORA) + " | colour variants |")
    print("|---|---|---|" + "---|" * len(CORPORA) + "---|")
    for rule in dict.fromkeys([*CANDIDATES, chosen]):
        hits = {f: np.concatenate([repin[c, f].matched(rule) for c in CORPORA]) for f in families}
        worst = min(families, key=lambda f: hits[f].mean())
        colour = np.concatenate([variant[c].matched(rule) for c in COLOURFUL])
        print(f"| {rule_name(rule)} | {np.mean(np.concatenate(list(hits.values()))):.4f} | {hits[worst].mean():.3f} "
              f"({worst}) | " + " | ".join(percent(distinct[c].matched(rule).mean(), 3) for c in CORPORA)
              + f" | {percent(colour.mean(), 1)} / {percent(colour[clearly].mean(), 1)} |")

    grid = [hash_rule(d, p, c) for d in range(4, 17) for p in [*range(4, 33), 64] for c in [*range(2, 17), 20, 24, 32, 255]]
    passing = [r for r in grid if recall(r) >= 0.99 and false_share(r, LOW_TEXTURE) < 0.001]
    print(f"\n## Grid\n\ndhash 4-16, phash 4-32 or unused, colour 2-32 or unused: {len(passing)} of {len(grid):,} "
          "rules "
          "have recall ≥ 0.99 and < 0.1 % false pairs on every low-texture corpus. The best by recall (worst "
          "family, then overall), and by photo false pairs + colour variants:\n")
    print("| rule | recall | worst family | worst low-texture false | worst photo false | colour variants |")
    print("|---|---|---|---|---|---|")
    by_recall = sorted(passing, key=lambda r: (-min(recall(r, fams=(f,)) for f in families), -recall(r),
                                               false_share(r, LOW_TEXTURE)))[:6]
    by_false = sorted(passing, key=lambda r: (false_share(r, photos) + variant_share(r), -recall(r)))[:6]
    for rule in dict.fromkeys(by_recall + by_false):
        print(f"| {rule_name(rule)} | {recall(rule):.4f} | {min(recall(rule, fams=(f,)) for f in families):.3f} | "
              f"{percent(false_share(rule, LOW_TEXTURE), 3)} | {percent(false_share(rule, photos), 3)} | "
              f"{percent(variant_share(rule), 1)} |")

    print(f"\n## {rule_name(chosen)}\n\nRecall per corpus and family; false pairs; colour variants matched "
          "(all / clearly recoloured).\n")
    print("| corpus | " + " | ".join(families) + " | all | false pairs | colour variants |")
    print("|---|" + "---|" * (len(families) + 3))
    for name in CORPORA:
        hits = [repin[name, f].matched(chosen) for f in families]
        false = distinct[name].matched(chosen)
        colour = "–"
        if name in variant:
            hit = variant[name].matched(chosen)
            colour = f"{percent(hit.mean(), 1)} / {percent(hit[data[name]['change'] >= RECOLOURED].mean(), 1)}"
        print(f"| {name} | " + " | ".join(f"{h.mean():.3f}" for h in hits) + f" | {np.mean(hits):.4f} | "
              f"{int(false.sum()):,} of {len(false):,} ({percent(false.mean(), 3)}) | {colour} |")

    misses = []
    for (name, family), counter in repin.items():
        for i in np.flatnonzero(~counter.matched(chosen)):
            misses.append((name, data[name]["notes"][i][families.index(family)], *counter.distances[i]))
    excess = lambda m: max(m[2] / chosen.dhash, m[3] / chosen.phash, m[4] / chosen.colour)  # noqa: E731
    print(f"\n{len(misses)} of {sum(c.total for c in repin.values()):,} re-pins missed; the 10 farthest (relative "
          "to the rule):\n\n| corpus | re-pin | dhash | phash | colour |\n|---|---|---|---|---|")
    for m in sorted(misses, key=excess, reverse=True)[:10]:
        print(f"| {m[0]} | {m[1]} | {m[2]} | {m[3]} | {m[4]} |")

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cards = np.concatenate([data["quote cards"]["served"][:repins, None], data["quote cards"]["repins"]], axis=1)
    source = np.repeat(np.arange(repins), cards.shape[1])
    cards = cards.reshape(-1, 3)
    print(f"\n## Chains\n\n{repins:,} quote cards and their {repins * len(families):,} re-pins: groups "
          "(`near_duplicate_groups`) against connected components of `close_pairs` (what grouping by chains "
          "would give). Mixed: holding more than one card.\n")
    print("| rule | close pairs | largest group | mixed groups | cards in mixed groups | largest component | "
          "mixed components | cards in mixed components |\n|---|---|---|---|---|---|---|---|")
    for rule in dict.fromkeys([hash_rule(4, 64, 255), hash_rule(12, 64, 255), chosen]):
        pairs = close_pairs(as_hashes(cards), rule)
        groups = near_duplicate_groups(as_hashes(cards), rule)
        components = connected_components(coo_matrix((np.ones(pairs.shape[1]), tuple(pairs)), shape=(len(cards),) * 2),
                                          directed=False)[1]
        cells = []
        for labels in (groups, components):
            _, sizes = np.unique(labels, return_counts=True)
            label_card = np.unique(np.stack([labels, source]), axis=1)
            mixed_labels, cards_per_label = np.unique(label_card[0], return_counts=True)
            mixed = mixed_labels[cards_per_label > 1]
            cells += [f"{sizes.max():,}", f"{len(mixed):,}", f"{len(np.unique(source[np.isin(labels, mixed)])):,}"]
        print(f"| {rule_name(rule)} | {pairs.shape[1]:,} | " + " | ".join(cells) + " |")

    served = np.concatenate([d["served"] for d in data.values()])
    everything = np.concatenate([served, *(d["repins"].reshape(-1, 3) for d in data.values()),
                                 *(d["variant"] for d in data.values() if "variant" in d)])
    sets = [("distinct pictures", served)] + ([("all fingerprints", everything)] if args.search_timing else [])
    print("\n## Search\n\n`close_pairs` (the sorted-window search: at most the rule's candidates a fingerprint, "
          "whatever the thresholds or the hashes):\n")
    print("| fingerprints | rule | close pairs | wall |\n|---|---|---|---|")
    for label, prints in sets:
        for rule in dict.fromkeys([hash_rule(4, 64, 255), chosen]):
            t = time.perf_counter()
            found = close_pairs(as_hashes(prints), rule)
            seconds = time.perf_counter() - t
            print(f"| {len(prints):,} {label} | {rule_name(rule)} | {found.shape[1]:,} | {seconds:.2f} s |")
    print(f"\ntotal wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
