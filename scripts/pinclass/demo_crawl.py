"""A small synthetic crawl in the real layout, whose categories differ visibly.

Category c gets its own hue, one of four shapes and a smooth or noisy texture, with random
position, size and brightness per image, so features can separate the classes but not trivially.
Besides the regular images it writes valid-but-unusual files (kept by cleaning) and hostile ones
(rejected), so that a demo run exercises cleaning too.
"""

import colorsys
import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

UNUSUAL_KINDS = ("cmyk_jpeg", "png16", "palette_alpha_png", "animated_gif", "webp", "exif_rotated_jpeg",
                 "uppercase_ext")
HOSTILE_KINDS = ("zero_byte", "truncated_jpeg", "html_as_jpg", "bomb_png", "tiny_png")
EXTENSIONS = {"cmyk_jpeg": ".jpg", "png16": ".png", "palette_alpha_png": ".png", "animated_gif": ".gif",
              "webp": ".webp", "exif_rotated_jpeg": ".jpg", "uppercase_ext": ".JPG", "zero_byte": ".jpg",
              "truncated_jpeg": ".jpg", "html_as_jpg": ".jpg", "bomb_png": ".png", "tiny_png": ".png",
              "jpeg": ".jpg", "png": ".png"}
BOMB_SIDE = 6000  # 36 M pixels: over the demo's max_pixels, a few kB on disk


def category_image(category: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    hue = (category * 0.618034) % 1.0  # golden-ratio steps keep neighbouring categories apart
    background = colorsys.hsv_to_rgb(hue, 0.35 + 0.2 * rng.random(), 0.55 + 0.4 * rng.random())
    foreground = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.8, 0.9)
    image = Image.new("RGB", (size, size), tuple(int(255 * v) for v in background))
    draw = ImageDraw.Draw(image)
    side = int(size * (0.35 + 0.3 * rng.random()))
    x, y = (int(v) for v in rng.integers(0, size - side, 2))
    colour = tuple(int(255 * v) for v in foreground)
    shape = category % 4
    if shape == 0:
        draw.ellipse([x, y, x + side, y + side], fill=colour)
    elif shape == 1:
        draw.rectangle([x, y, x + side, y + side], fill=colour)
    elif shape == 2:
        draw.polygon([(x, y + side), (x + side // 2, y), (x + side, y + side)], fill=colour)
    else:
        for stripe in range(0, size, 8):
            draw.rectangle([stripe, 0, stripe + 3, size], fill=colour)
    pixels = np.asarray(image, dtype=np.float32)
    if (category // 4) % 2:  # noisy texture for half of the categories
        pixels += rng.normal(0, 25, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_image(path: Path, kind: str, base: Image.Image) -> Path:
    """Write `base` as file kind `kind` (see EXTENSIONS) at path + the kind's extension."""
    path = Path(str(path) + EXTENSIONS[kind])
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in ("jpeg", "uppercase_ext"):
        base.save(path, "JPEG", quality=90)
    elif kind == "png":
        base.save(path, "PNG")
    elif kind == "cmyk_jpeg":
        base.convert("CMYK").save(path, "JPEG", quality=90)
    elif kind == "png16":
        grey = np.asarray(base.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(grey).save(path, "PNG")  # mode I;16
    elif kind == "palette_alpha_png":
        palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        palette.info["transparency"] = 0
        palette.save(path, "PNG", transparency=0)
    elif kind == "animated_gif":
        frames = [base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    elif kind == "webp":
        base.save(path, "WEBP", quality=90)
    elif kind == "exif_rotated_jpeg":
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
        base.crop((0, 0, base.width, base.height * 3 // 4)).save(path, "JPEG", quality=90, exif=exif)
    elif kind == "zero_byte":
        path.write_bytes(b"")
    elif kind == "truncated_jpeg":
        buffer = io.BytesIO()
        base.save(buffer, "JPEG", quality=90)
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif kind == "html_as_jpg":
        path.write_text("<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>\n")
    elif kind == "bomb_png":
        Image.new("1", (BOMB_SIDE, BOMB_SIDE)).save(path, "PNG")
    elif kind == "tiny_png":
        base.resize((16, 16)).save(path, "PNG")
    else:
        raise ValueError(f"unknown image kind {kind!r}")
    return path


def _pin(board_dir: Path, rng: np.random.Generator, kind: str, base: Image.Image) -> Path:
    pin_id = str(int(rng.integers(10**17, 10**18)))
    pin_dir = board_dir / pin_id
    pin_dir.mkdir(parents=True)
    (pin_dir / "pin.json").write_text(json.dumps({"id": pin_id}))
    return write_image(pin_dir / pin_id, kind, base)


def make_demo_crawl(root, categories: list[str], excluded: list[str], images_per_category: int,
                    seed: int, size: int = 64, users: int = 8, labelled: bool = True) -> None:
    """Write the crawl under `root` (replaced if present); labelled=False: without its board files,
    as a crawl of new boards whose topics nobody has filed."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    users = min(users, len(categories) + len(excluded))
    boards: dict[str, dict] = {}
    first_image = {}
    for c, category in enumerate(categories + excluded):
        user = f"user_{c % users:02d}"
        board = f"{category.replace('_', '-')}-board"
        boards.setdefault(user, {})[board] = {"category": category, "title": f"My {category} board"}
        count = images_per_category if category in categories else 3
        for i in range(count):
            unusual = c < len(UNUSUAL_KINDS) and i == 0
            kind = UNUSUAL_KINDS[c] if unusual else ("jpeg", "png")[i % 2]
            written = _pin(root / user / board, rng, kind, category_image(c, rng, size))
            first_image.setdefault(category, written)
    # one user describes boards per board (board.json) instead of boards.json
    alt_user = f"user_{users - 1:02d}"
    for board, info in boards.pop(alt_user).items():
        (root / alt_user / board / "board.json").write_text(json.dumps(info))
    for user, info in boards.items():
        (root / user / "boards.json").write_text(json.dumps(info, indent=1))

    hostile_board = root / "user_00" / next(iter(boards["user_00"]))
    for kind in HOSTILE_KINDS:
        _pin(hostile_board, rng, kind, category_image(0, rng, size))
    (hostile_board / "123456789012345678").mkdir()  # an empty pin folder
    (hostile_board / "notes.txt").write_text("a stray file outside any pin folder\n")
    # re-pins by another user (sorted after the originals, so the originals are kept): an exact
    # copy in the same category, and one filed under another category
    reposts = {}
    for source, target in ((categories[0], categories[0]), (categories[1], categories[0])):
        board = f"reposts-{len(reposts)}"
        reposts[board] = {"category": target}
        copy = _pin(root / "zz_reposter" / board, rng, "png", Image.new("RGB", (1, 1)))
        copy.unlink()
        shutil.copyfile(first_image[source], copy.with_suffix(first_image[source].suffix))
    (root / "zz_reposter" / "boards.json").write_text(json.dumps(reposts))
    # a board whose category is not one of the configured ones, and a user whose boards.json is broken
    unknown = root / "user_01" / "misc-board"
    _pin(unknown, rng, "jpeg", category_image(1, rng, size))
    (unknown / "board.json").write_text(json.dumps({"category": "cats_and_dogs"}))
    broken = root / "user_broken"
    _pin(broken / "stuff", rng, "jpeg", category_image(2, rng, size))
    broken.joinpath("boards.json").write_text('{"stuff": {"category": "art"')
    if not labelled:
        for board_file in [*root.glob("*/boards.json"), *root.glob("*/*/board.json")]:
            board_file.unlink()
