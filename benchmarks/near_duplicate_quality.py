"""Near-duplicate quality: how well `near_duplicates.Rule` tells re-pins from distinct pictures.

Synthetic, seeded corpora (nothing downloaded): low-texture pictures (quote cards, flat-colour
graphics, text screenshots), photo-like ones (crops of scikit-learn's two sample photos, the demo
crawl's `category_image` pictures, smooth random textures) and colour variants (a picture with its
channels permuted or its hue turned). Each picture is served as a JPEG (quality 90) and re-pinned by
six families of transforms: resize to 50-95 %, JPEG quality 60-95, a trim of 1-8 px on some sides, a
white or black border of 1-8 px, resize + JPEG, and trim or border + resize + JPEG. Fingerprints are
`images.dhash/phash/mean_colour` of the decoded RGB picture; rules are judged by
`near_duplicates.matches`, groups by `near_duplicate_groups` and `close_pairs`.

Reported: 1. distance distributions of re-pin pairs and of distinct pairs per corpus; 2. per candidate
rule, recall on re-pins (overall and per family), the share of distinct pairs matched per corpus
(all pairs among --n pictures) and the share of colour variants matched; 3. the rules of a grid
that meet the requirement (recall >= 0.99, < 0.1 % false pairs on every low-texture corpus), best
first; 4. --rule per corpus and family, its worst misses; 5. groups against connected components on
the quote cards with their re-pins (chaining).

    PYTHONPATH=scripts .venv/bin/python benchmarks/near_duplicate_quality.py

(--quick: 250 pictures per corpus, for a first look.)
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

from pinclass.demo_crawl import category_image  # noqa: E402
from pinclass.images import dhash, mean_colour, phash  # noqa: E402
from pinclass.near_duplicates import HASH_COLUMNS, Rule, close_pairs, matches, near_duplicate_groups  # noqa: E402

SERVED_QUALITY = 90  # the crawl's copy of every picture is a JPEG at this quality
UNUSED = Rule(64, 64, 255)  # a threshold this large never rejects a pair


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
    return dhash(image), phash(image), mean_colour(image)


def picture_fingerprints(task):
    """One picture of one corpus: fingerprints of its served copy, of one re-pin per family and of a
    colour variant (rows in that order), the transforms' notes and the crop box (photo crops)."""
    seed, k, i = task
    rng = np.random.default_rng([seed, k, i])
    picture, box = CORPORA[list(CORPORA)[k]](rng)
    served = jpeg(picture, SERVED_QUALITY)
    rows, notes = [fingerprint(served)], []
    for f, transform in enumerate(FAMILIES.values()):
        copy, note = transform(served, np.random.default_rng([seed, k, i, 1 + f]))
        rows.append(fingerprint(copy))
        notes.append(note)
    variant, note = colour_variant(picture, np.random.default_rng([seed, k, i, 99]))
    rows.append(fingerprint(jpeg(variant, SERVED_QUALITY)))
    notes.append(note)
    return np.array(rows, dtype=np.uint64), notes, box


def corpus_fingerprints(n: int, seed: int, jobs: int) -> dict:
    """Per corpus: prints (n, 2 + families, 3) uint64, notes, boxes."""
    tasks = [(seed, k, i) for k in range(len(CORPORA)) for i in range(n)]
    with multiprocessing.Pool(jobs) as pool:
        results = pool.map(picture_fingerprints, tasks, chunksize=25)
    out = {}
    for k, name in enumerate(CORPORA):
        chunk = results[k * n:(k + 1) * n]
        out[name] = {"prints": np.stack([r[0] for r in chunk]), "notes": [r[1] for r in chunk],
                     "boxes": [r[2] for r in chunk]}
    return out


def as_hashes(prints: np.ndarray) -> dict:
    """(m, 3) fingerprint rows → the {column: array} mapping near_duplicates takes."""
    return {column: prints[:, c] for c, column in enumerate(HASH_COLUMNS)}


# ------------------------------------------------------------------------------------------ pairs

def distinct_pairs(corpus: dict) -> tuple[np.ndarray, int]:
    """(2, m) every pair of the corpus's pictures, but pairs of overlapping crops (same photo, same
    mirroring, boxes' intersection over union >= 0.5); and how many such pairs were left out."""
    n = len(corpus["boxes"])
    i, j = np.triu_indices(n, 1)
    if corpus["boxes"][0] is None:
        return np.stack([i, j]), 0
    b = np.array(corpus["boxes"], dtype=float)
    width = np.clip(np.minimum(b[i, 3], b[j, 3]) - np.maximum(b[i, 1], b[j, 1]), 0, None)
    height = np.clip(np.minimum(b[i, 4], b[j, 4]) - np.maximum(b[i, 2], b[j, 2]), 0, None)
    area = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    inter = width * height
    overlapping = (b[i, 0] == b[j, 0]) & (b[i, 5] == b[j, 5]) & (inter / (area[i] + area[j] - inter) >= 0.5)
    return np.stack([i[~overlapping], j[~overlapping]]), int(overlapping.sum())


def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, 3) dhash bits, phash bits, largest mean-colour channel difference: for the distributions and
    the grid; every figure a rule is reported with comes from `matches` (and is checked against these)."""
    bits = np.bitwise_count(a[:, :2] ^ b[:, :2]).astype(np.int64)
    shifts = np.array([16, 8, 0], dtype=np.uint64)
    ca = ((a[:, 2:3] >> shifts) & np.uint64(255)).astype(np.int64)
    cb = ((b[:, 2:3] >> shifts) & np.uint64(255)).astype(np.int64)
    return np.column_stack([bits, np.abs(ca - cb).max(axis=1)])


class Counter:
    """Pairs within every rule at once: the 3-D histogram of (dhash, phash, colour) distances (colour
    over 64 in one bin), cumulated along each axis, so that within(rule) is one lookup."""

    def __init__(self, distances: np.ndarray):
        self.distances, self.total = distances, len(distances)
        index = np.ravel_multi_index((distances[:, 0], distances[:, 1], np.minimum(distances[:, 2], 65)), (65, 65, 66))
        histogram = np.bincount(index, minlength=65 * 65 * 66).reshape(65, 65, 66)
        self.cumulative = histogram.cumsum(0).cumsum(1).cumsum(2).astype(np.int32)

    def within(self, rule: Rule) -> int:
        if 64 < rule.colour < 255:
            d = self.distances
            return int(((d[:, 0] <= rule.dhash) & (d[:, 1] <= rule.phash) & (d[:, 2] <= rule.colour)).sum())
        return int(self.cumulative[min(rule.dhash, 64), min(rule.phash, 64), min(rule.colour, 65)])

    def share(self, rule: Rule) -> float:
        return self.within(rule) / self.total


def matched(a: np.ndarray, b: np.ndarray, rule: Rule) -> np.ndarray:
    return matches(as_hashes(a), as_hashes(b), rule)


# ----------------------------------------------------------------------------------------- report

def parse_rule(text: str) -> Rule:
    return Rule(*(int(v) for v in text.split(",")))


def rule_name(rule: Rule) -> str:
    parts = [f"dhash ≤ {rule.dhash}" if rule.dhash < 64 else "",
             f"phash ≤ {rule.phash}" if rule.phash < 64 else "", f"colour ≤ {rule.colour}" if rule.colour < 255 else ""]
    return ", ".join(p for p in parts if p) or "anything"


def percent(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f} %"


def quantiles(values: np.ndarray, qs) -> str:
    return " / ".join(f"{np.quantile(values, q, method='lower'):.0f}" for q in qs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pictures per corpus (each with its re-pins)")
    parser.add_argument("--quick", action="store_true", help="250 pictures per corpus")
    parser.add_argument("--rule", default="10,12,24", help="the rule to detail: dhash,phash,colour")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    n = 250 if args.quick else args.n
    chosen = parse_rule(args.rule)
    command = "PYTHONPATH=scripts " + shlex.join([sys.executable.replace(os.getcwd() + "/", ""), *sys.argv])
    print(f"# Near-duplicate quality\n\ncommand: `{command}`\n\n{n:,} pictures per corpus, {len(FAMILIES)} re-pins "
          f"and one colour variant each; {args.jobs} processes, {os.cpu_count()} CPUs\n")
    start = time.perf_counter()
    data = corpus_fingerprints(n, args.seed, args.jobs)
    print(f"fingerprints of {len(CORPORA) * n * (2 + len(FAMILIES)):,} pictures: "
          f"{time.perf_counter() - start:.0f} s\n")

    # pair sets: re-pins (per corpus and family), distinct pairs (per corpus), colour variants
    repins, distinct, variants, left_out = {}, {}, {}, {}
    for name, corpus in data.items():
        prints = corpus["prints"]
        for f, family in enumerate(FAMILIES):
            repins[name, family] = (prints[:, 0], prints[:, 1 + f])
        pairs, left_out[name] = distinct_pairs(corpus)
        distinct[name] = (prints[pairs[0], 0], prints[pairs[1], 0])
        if name in COLOURFUL:
            variants[name] = (prints[:, 0], prints[:, -1])
    all_repins = tuple(np.concatenate([p[s] for p in repins.values()]) for s in (0, 1))
    counters = {key: Counter(pair_distances(*pairs)) for key, pairs in
                [*(((("repin",) + k), v) for k, v in repins.items()), *((("distinct", k), v) for k, v in distinct.items()),
                 *((("variant", k), v) for k, v in variants.items())]}

    print("## Distances\n\nRe-pin pairs (a picture and one re-pin): 99th percentile / largest. Distinct pairs: "
          "0.1st / 1st percentile (smallest distances: what a rule must stay below).\n")
    print("| corpus | distinct pairs | re-pins dhash | phash | colour | distinct dhash | phash | colour |")
    print("|---|---|---|---|---|---|---|---|")
    for name in CORPORA:
        near = pair_distances(*(np.concatenate([repins[name, f][s] for f in FAMILIES]) for s in (0, 1)))
        far = pair_distances(*distinct[name])
        note = f" ({left_out[name]:,} overlapping crops left out)" if left_out[name] else ""
        print(f"| {name} | {len(far):,}{note} | " + " | ".join(quantiles(near[:, c], (0.99, 1)) for c in range(3))
              + " | " + " | ".join(quantiles(far[:, c], (0.001, 0.01)) for c in range(3)) + " |")
    variant_distances = pair_distances(*(np.concatenate([v[s] for v in variants.values()]) for s in (0, 1)))
    print(f"| colour variants ({', '.join(COLOURFUL)}) | {len(variant_distances):,} | | | | "
          + " | ".join(quantiles(variant_distances[:, c], (0.01, 0.1)) for c in range(3))
          + " |\n\n(colour variants: 1st / 10th percentile)\n")

    def recall(rule, corpora=CORPORA, families=FAMILIES):
        keys = [("repin", c, f) for c in corpora for f in families]
        return sum(counters[k].within(rule) for k in keys) / sum(counters[k].total for k in keys)

    def false_share(rule, corpora):
        return max(counters["distinct", c].share(rule) for c in corpora)

    def variant_share(rule):
        keys = [("variant", c) for c in COLOURFUL]
        return sum(counters[k].within(rule) for k in keys) / sum(counters[k].total for k in keys)

    candidates = [Rule(4, 64, 255), Rule(6, 64, 255), Rule(8, 64, 255), Rule(10, 64, 255), Rule(64, 8, 255),
                  Rule(64, 12, 255), Rule(8, 8, 255), Rule(10, 12, 255), Rule(8, 8, 16), Rule(10, 10, 16),
                  Rule(10, 12, 16), Rule(10, 12, 24), Rule(10, 12, 32), Rule(12, 14, 24)]
    if chosen not in candidates:
        candidates.append(chosen)
    print("## Candidate rules\n\nRecall: re-pins matched (all corpora), overall and the worst family. "
          "False pairs: distinct pairs matched. Colour variants: variants matched to their original. "
          "Each figure from `near_duplicates.matches`.\n")
    print("| rule | recall | worst family | " + " | ".join(f"false: {c}" for c in CORPORA) + " | colour variants |")
    print("|---|---|---|" + "---|" * len(CORPORA) + "---|")
    for rule in candidates:
        got = {key: matched(*pairs, rule) for key, pairs in
               [*(((("repin",) + k), v) for k, v in repins.items()), *((("distinct", k), v) for k, v in distinct.items()),
                *((("variant", k), v) for k, v in variants.items())]}
        for key, hit in got.items():  # the grid's counts are the library's
            assert int(hit.sum()) == counters[key].within(rule), (key, rule)
        by_family = [np.mean(np.concatenate([got["repin", c, f] for c in CORPORA])) for f in FAMILIES]
        worst = int(np.argmin(by_family))
        overall = np.mean(np.concatenate([got[k] for k in got if k[0] == "repin"]))
        colour = np.mean(np.concatenate([got[k] for k in got if k[0] == "variant"]))
        print(f"| {rule_name(rule)} | {overall:.4f} | {by_family[worst]:.3f} ({list(FAMILIES)[worst]}) | "
              + " | ".join(percent(got["distinct", c].mean(), 3) for c in CORPORA) + f" | {percent(colour, 1)} |")

    print("\n## Grid\n\ndhash 4-16, phash 4-20, colour 4-64 and unused: the rules with recall ≥ 0.99 "
          "and < 0.1 % false pairs on each low-texture corpus, fewest photo false pairs + colour variants first.\n")
    grid = [Rule(d, p, c) for d in range(4, 17) for p in [*range(4, 21), 64] for c in [*range(4, 65, 4), 255]]
    passing = [r for r in grid if recall(r) >= 0.99 and false_share(r, LOW_TEXTURE) < 0.001]
    score = {r: (false_share(r, [c for c in CORPORA if c not in LOW_TEXTURE]) + variant_share(r),
                 -recall(r)) for r in passing}
    print(f"{len(passing)} of {len(grid)} rules pass.\n")
    print("| rule | recall | worst low-texture false | worst photo false | colour variants |\n|---|---|---|---|---|")
    for rule in sorted(passing, key=score.get)[:12]:
        print(f"| {rule_name(rule)} | {recall(rule):.4f} | {percent(false_share(rule, LOW_TEXTURE), 3)} | "
              f"{percent(false_share(rule, [c for c in CORPORA if c not in LOW_TEXTURE]), 3)} | "
              f"{percent(variant_share(rule), 1)} |")

    print(f"\n## {rule_name(chosen)}: recall per corpus and family\n")
    print("| corpus | " + " | ".join(FAMILIES) + " | all | false pairs | colour variants |")
    print("|---|" + "---|" * (len(FAMILIES) + 3))
    for name in CORPORA:
        hits = [matched(*repins[name, f], chosen) for f in FAMILIES]
        false = matched(*distinct[name], chosen)
        colour = f"{matched(*variants[name], chosen).mean():.3f}" if name in variants else "–"
        print(f"| {name} | " + " | ".join(f"{h.mean():.3f}" for h in hits) + f" | {np.mean(hits):.4f} | "
              f"{int(false.sum()):,} of {len(false):,} ({percent(false.mean(), 3)}) | {colour} |")

    misses = []
    for (name, family), (a, b) in repins.items():
        distances = pair_distances(a, b)
        for i in np.flatnonzero(~matched(a, b, chosen)):
            misses.append((name, family, data[name]["notes"][i][list(FAMILIES).index(family)], *distances[i]))
    print(f"\n{len(misses)} re-pins missed; the first 12 by the largest excess over the rule:\n")
    print("| corpus | transform | dhash | phash | colour |\n|---|---|---|---|---|")
    excess = lambda m: max(m[3] - chosen.dhash, m[4] - chosen.phash, (m[5] - chosen.colour) / 4)  # noqa: E731
    for m in sorted(misses, key=excess, reverse=True)[:12]:
        print(f"| {m[0]} | {m[2]} | {m[3]} | {m[4]} | {m[5]} |")

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    prints = data["quote cards"]["prints"]
    images = prints[:, :1 + len(FAMILIES)].reshape(-1, 3)  # each card, then its re-pins
    source = np.repeat(np.arange(n), 1 + len(FAMILIES))
    print(f"\n## Chains: {n:,} quote cards and their {n * len(FAMILIES):,} re-pins\n\nGroups "
          "(`near_duplicate_groups`) against connected components of `close_pairs` (what grouping by chains "
          "would give). Mixed: groups holding more than one card.\n")
    print("| rule | close pairs | largest group | groups of 2+ | mixed groups | largest component | "
          "mixed components |\n|---|---|---|---|---|---|---|")
    for rule in dict.fromkeys([Rule(4, 64, 255), Rule(8, 64, 255), chosen]):
        hashes = as_hashes(images)
        pairs = close_pairs(hashes, rule)
        groups = near_duplicate_groups(hashes, rule)
        components = connected_components(coo_matrix((np.ones(pairs.shape[1]), tuple(pairs)),
                                                     shape=(len(images),) * 2), directed=False)[1]
        row = []
        for labels in (groups, components):
            _, sizes = np.unique(labels, return_counts=True)
            cards = np.unique(np.stack([labels, source]), axis=1)[0]
            _, cards_per_label = np.unique(cards, return_counts=True)
            row.append((sizes.max(), int((sizes > 1).sum()), int((cards_per_label > 1).sum())))
        print(f"| {rule_name(rule)} | {pairs.shape[1]:,} | {row[0][0]:,} | {row[0][1]:,} | {row[0][2]:,} | "
              f"{row[1][0]:,} | {row[1][2]:,} |")
    print(f"\ntotal wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
