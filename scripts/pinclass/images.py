"""Decoding images the one way both cleaning and feature extraction use.

Cleaning calls `inspect_image`, which runs the very decoder extraction uses (`decode_rgb`, the
core of `load_rgb`), so an image that passes cleaning is one extraction can read. Pillow's pixel
limit is the decompression-bomb guard; `set_pixel_limit` makes it the config's value and turns
Pillow's warning into an error, so every image over the limit is rejected rather than half-accepted.
"""

import hashlib
import io
import warnings

import numpy as np
from PIL import ExifTags, Image, ImageOps

from pinclass.near_duplicates import THUMBNAIL_SIDE

BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white
TRANSPOSING_ORIENTATIONS = range(2, 9)  # EXIF orientations ImageOps.exif_transpose acts on


class ImageRejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def set_pixel_limit(max_pixels: int) -> None:
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def _upright(image: Image.Image) -> Image.Image:
    """EXIF orientation applied; the image itself when it has none to apply (exif_transpose would copy)."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) in TRANSPOSING_ORIENTATIONS:
        return ImageOps.exif_transpose(image)
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB; the image itself when it already is (convert would copy)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits (Pillow's convert would clip instead of scaling).
        values = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray((values >> 8).astype(np.uint8) if values.max() > 255 else values.astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        image = Image.alpha_composite(canvas, rgba)
    return image.convert("RGB")


def decode_rgb(image: Image.Image, draft_size: int | None = None) -> Image.Image:
    """Fully decode an opened image: first frame, EXIF orientation applied, RGB.

    Returns `image` itself, decoded, when it is already upright 8-bit RGB (most JPEGs): no copy.
    draft_size: let a JPEG decode at the smallest DCT scale (1/2, 1/4, 1/8) that still covers
    draft_size x draft_size — 2-3x faster on large pins when the result is resized down anyway.
    """
    image.seek(0)
    if draft_size and image.format == "JPEG":
        image.draft(image.mode, (draft_size, draft_size))
    image.load()
    return _to_rgb(_upright(image))


def load_rgb(source, draft_size: int | None = None) -> Image.Image:
    """Fully decode a file (path or file object) with `decode_rgb`; the result outlives the file."""
    with Image.open(source) as image:
        rgb = decode_rgb(image, draft_size)
        return rgb.copy() if rgb is image else rgb  # closing the file destroys `image`'s pixels


def resize(image: Image.Image, size: int) -> np.ndarray:
    """Square resize (aspect ratio not kept) with Pillow's antialiased bicubic filter → float32 RGB 0..255."""
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)


FRAME_SIDE = 96  # content_box works on a box-filtered copy this many px on its shorter side
FRAME_LEVELS = 32  # a near-white pixel has every channel >= 255 - this, a near-black one <= this
FRAME_SHARE = 0.97  # a line is near-white / near-black / of one colour when this share of its pixels is
BLEND_LEVELS = 16  # of one colour: every channel within this many levels of the line's median
BLEND_LINES = 2  # lines of one other colour skipped between near-white / near-black ones (a resized border's blend)
DHASH_DEAD_ZONE = 2.0  # grey levels a right neighbour must be brighter by for a difference-hash bit
PHASH_DEAD_ZONE = 0.1  # share of the RMS of the DCT terms a term must exceed for a DCT-hash bit
# ... and at least this (grey levels): a flat picture's terms are rounding noise, 1e-12 or so,
# whose bits would differ between BLAS builds and threads; one pixel one level off makes ~0.06.
PHASH_FLOOR = 1e-6
GREY = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")


def _lines(planes: np.ndarray, white: np.ndarray, black: np.ndarray):
    """Two tests on line i of `planes` (3 × lines × pixels; white, black: lines × pixels), each computed
    when first asked: whether the line is near-white or near-black, and whether it is of one colour
    (every channel within BLEND_LEVELS of the line's median, on FRAME_SHARE of its pixels)."""
    m = white.shape[1]
    extremes, uniforms = {}, {}

    def extreme(i: int) -> bool:
        if i not in extremes:
            extremes[i] = (np.count_nonzero(white[i]) / m >= FRAME_SHARE
                           or np.count_nonzero(black[i]) / m >= FRAME_SHARE)
        return extremes[i]

    def uniform(i: int) -> bool:
        if i not in uniforms:
            line = planes[:, i]  # 3 × m
            ordered = np.sort(line, axis=1)
            # each channel's median, doubled (an integer): the middle value twice, or the two middle ones
            middle = ordered[:, m // 2:m // 2 + 1]
            twice = 2 * middle if m % 2 else ordered[:, m // 2 - 1:m // 2] + middle
            deviation = np.abs(2 * line - twice)
            within = np.maximum(np.maximum(deviation[0], deviation[1]), deviation[2]) <= 2 * BLEND_LEVELS
            uniforms[i] = np.count_nonzero(within) / m >= FRAME_SHARE
        return uniforms[i]

    return extreme, uniform


def _strip(lines: int, extreme, uniform) -> int:
    """How many of `lines` lines, from the first, are frame: near-white or near-black lines, and up to
    BLEND_LINES lines of one other colour when a near-white or near-black line follows. Lines are looked
    at only as far as the frame goes (a picture without a frame: its first line or two)."""
    stripped = i = 0
    while i < lines:
        if extreme(i):
            i += 1
            stripped = i
            continue
        j = i
        while j < lines and j - i < BLEND_LINES and uniform(j) and not extreme(j):
            j += 1
        if j == i or j == lines or not extreme(j):
            break
        i = j
    return stripped


def content_box(image: Image.Image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the picture inside its frame: near-white and near-black lines
    stripped from every side, in rounds until none is left (a border on one side hides the margin along
    the others). A border, a trim of a margin or a letterbox then changes the box, not the content, so
    the fingerprints below, taken inside it, survive them. Found on a box-filtered copy FRAME_SIDE px on
    its shorter side (grain and JPEG ringing averaged away); the whole picture when little would be left."""
    w, h = image.size
    scale = min(1.0, FRAME_SIDE / min(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = image if size == image.size else image.resize(size, Image.Resampling.BOX)
    planes = np.asarray(small, dtype=np.int16).transpose(2, 0, 1).copy()  # 3 × rows × columns
    lowest = np.minimum(np.minimum(planes[0], planes[1]), planes[2])
    highest = np.maximum(np.maximum(planes[0], planes[1]), planes[2])
    white, black = lowest >= 255 - FRAME_LEVELS, highest <= FRAME_LEVELS
    columns = planes.transpose(0, 2, 1), white.T, black.T
    sh, sw = white.shape
    left, top, right, bottom = 0, 0, sw, sh
    for _ in range(4):
        before = (left, top, right, bottom)
        if bottom - top > 2:
            rows = slice(top, bottom - 1)
            top += _strip(bottom - 1 - top, *_lines(planes[:, rows, left:right], white[rows, left:right],
                                                    black[rows, left:right]))
        if bottom - top > 2:
            rows = slice(bottom - 1, top, -1)
            bottom -= _strip(bottom - 1 - top, *_lines(planes[:, rows, left:right], white[rows, left:right],
                                                       black[rows, left:right]))
        if right - left > 2:
            lines = slice(left, right - 1)
            left += _strip(right - 1 - left, *_lines(columns[0][:, lines, top:bottom], columns[1][lines, top:bottom],
                                                     columns[2][lines, top:bottom]))
        if right - left > 2:
            lines = slice(right - 1, left, -1)
            right -= _strip(right - 1 - left, *_lines(columns[0][:, lines, top:bottom], columns[1][lines, top:bottom],
                                                      columns[2][lines, top:bottom]))
        if (left, top, right, bottom) == before:
            break
    if right - left < max(2, sw // 10) or bottom - top < max(2, sh // 10):
        return (0, 0, w, h)
    return (round(left * w / sw), round(top * h / sh), round(right * w / sw), round(bottom * h / sh))


def _grey(image: Image.Image, size: tuple[int, int], resample) -> np.ndarray:
    return np.asarray(image.resize(size, resample), dtype=np.float64) @ GREY


def _bits(flags: np.ndarray) -> int:
    return int(np.packbits(flags.ravel()).view(">u8")[0])


def dhash(image: Image.Image) -> int:
    """64-bit difference hash of a picture (`fingerprints` passes the content inside its frame): shrunk to 9×8 with
    Pillow's bicubic filter (smoother than a box: a fine pattern or a shift of a few pixels moves cells
    less), in grey; bit i (row-major, the first bit most significant) says whether a pixel's right
    neighbour is brighter by more than DHASH_DEAD_ZONE levels, so that flat areas give steady 0s rather
    than bits JPEG noise flips. Krawetz's idea, not bit for bit imagehash's."""
    small = _grey(image, (9, 8), Image.Resampling.BICUBIC)
    return _bits(small[:, 1:] - small[:, :-1] > DHASH_DEAD_ZONE)


def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II as an n×n matrix: row k is the k-th cosine."""
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * x + 1) * k / (2 * n))
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT32 = _dct_matrix(32)


def phash(image: Image.Image) -> int:
    """64-bit DCT hash of a picture (as `dhash`, the content inside its frame): shrunk to 32×32 (bilinear), in grey, its 2-D
    DCT, and of the 8×8 lowest frequencies (row-major, the first bit most significant) whether each is
    above PHASH_DEAD_ZONE times their RMS (and above PHASH_FLOOR); the first bit, the constant term, is 0. It describes the
    coarse layout (a quote card's lines), where the difference hash describes edges between cells.
    Not imagehash's median threshold: a smooth or flat picture has most terms near 0, and bits set
    by a median among them flip with any re-encode."""
    grey = _grey(image, (32, 32), Image.Resampling.BILINEAR)
    terms = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()[1:]
    threshold = max(PHASH_DEAD_ZONE * np.sqrt(np.mean(terms ** 2)), PHASH_FLOOR)
    return _bits(np.concatenate([[False], terms > threshold]))


def mean_colour(image: Image.Image) -> int:
    """A picture's mean colour, 0xRRGGBB: the grey hashes cannot see colour, this can."""
    r, g, b = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return (r << 16) | (g << 8) | b


def thumbnail(image: Image.Image) -> bytes:
    """The picture (`fingerprints` passes the content inside its frame) box-filtered to THUMBNAIL_SIDE²
    RGB, row-major, as bytes: what a near-duplicate's confirmation compares (`near_duplicates`)."""
    return image.resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BOX).tobytes()


def packed_box(box: tuple[int, int, int, int], size: tuple[int, int]) -> int:
    """(left, top, right, bottom) as shares of the picture's width and height, 16 bits each in that
    order (the first most significant): where the content sits, whatever the picture's resolution."""
    w, h = size
    packed = 0
    for value, side in zip(box, (w, h, w, h)):
        packed = (packed << 16) | round(0xFFFF * value / side)
    return packed


def fingerprints(image: Image.Image) -> dict:
    """The near-duplicate fingerprints of the picture inside its frame (`content_box`, found once):
    `dhash`, `phash`, `colour` (`mean_colour`) and `thumbnail` of the content, and `box`, where the
    content sits in the picture (`packed_box`)."""
    box = content_box(image)
    # the whole-resolution content: box-filtering it to ~128 px first (5 ms a pin instead of 10)
    # aliased fine text and stripes, and recall fell from 0.998 to 0.984
    content = image if box == (0, 0, *image.size) else image.crop(box)
    return {"dhash": dhash(content), "phash": phash(content), "colour": mean_colour(content),
            "box": packed_box(box, image.size), "thumbnail": thumbnail(content)}


def inspect_image(path, min_size: int) -> dict:
    """Decode one file completely; return width, height (as displayed), format, sha256 and the
    near-duplicate `fingerprints`, or raise ImageRejected.

    The file is read once and opened once; its bytes are hashed and decoded (`decode_rgb`, the
    decode extraction runs) from memory.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ImageRejected("unreadable", f"cannot read: {error.strerror}") from None
    if not data:
        raise ImageRejected("unreadable", "empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format
            rgb = decode_rgb(image)
            (width, height), prints = rgb.size, fingerprints(rgb)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected("too_large", str(error)) from None
    except Image.UnidentifiedImageError:
        raise ImageRejected("unreadable", f"not an image format Pillow knows; starts with {data[:24]!r}") from None
    except Exception as error:  # Pillow raises many types for corrupt data; all mean "cannot decode"
        raise ImageRejected("unreadable", f"{type(error).__name__}: {error}") from None
    if min(width, height) < min_size:
        raise ImageRejected("too_small", f"{width}x{height} is below the minimum side of {min_size} px")
    return {"width": width, "height": height, "format": fmt, "sha256": hashlib.sha256(data).hexdigest(),
            **prints}
