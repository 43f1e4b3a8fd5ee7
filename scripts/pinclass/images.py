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


def dhash(image: Image.Image) -> int:
    """64-bit difference hash: the picture box-filtered to 9×8, in grey; bit i (row-major, the first
    bit most significant) says whether a pixel's right neighbour is brighter than it. A resized or
    re-encoded copy keeps nearly all bits. Krawetz's idea, as the `imagehash` package has it, but not
    bit for bit the same: imagehash converts to grey first and resizes with Lanczos."""
    small = np.asarray(image.resize((9, 8), Image.Resampling.BOX).convert("L"), dtype=np.int16)
    return int(np.packbits(small[:, 1:] > small[:, :-1]).view(">u8")[0])


def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II as an n×n matrix: row k is the k-th cosine."""
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * x + 1) * k / (2 * n))
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT32 = _dct_matrix(32)


def phash(image: Image.Image) -> int:
    """64-bit DCT hash: the picture box-filtered to 32×32, in grey, its 2-D DCT, and of the 8×8
    lowest frequencies (row-major, the first bit most significant) whether each is above their median
    (the constant term included, as imagehash does). It describes the picture's coarse layout, where
    the difference hash describes edges between neighbouring cells: pictures with little texture
    that the one cannot tell apart the other often can."""
    grey = np.asarray(image.resize((32, 32), Image.Resampling.BOX).convert("L"), dtype=np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8]
    return int(np.packbits(low > np.median(low)).view(">u8")[0])


def mean_colour(image: Image.Image) -> int:
    """The picture's mean colour, 0xRRGGBB: the grey hashes cannot see colour, this can."""
    r, g, b = (round(v) for v in np.asarray(image.resize((1, 1), Image.Resampling.BOX), dtype=np.float64)[0, 0])
    return (r << 16) | (g << 8) | b


def inspect_image(path, min_size: int) -> dict:
    """Decode one file completely; return width, height (as displayed), format, sha256 and the
    near-duplicate fingerprints (dhash, phash, colour), or raise ImageRejected.

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
            (width, height), fingerprints = rgb.size, {"dhash": dhash(rgb), "phash": phash(rgb),
                                                       "colour": mean_colour(rgb)}
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected("too_large", str(error)) from None
    except Image.UnidentifiedImageError:
        raise ImageRejected("unreadable", f"not an image format Pillow knows; starts with {data[:24]!r}") from None
    except Exception as error:  # Pillow raises many types for corrupt data; all mean "cannot decode"
        raise ImageRejected("unreadable", f"{type(error).__name__}: {error}") from None
    if min(width, height) < min_size:
        raise ImageRejected("too_small", f"{width}x{height} is below the minimum side of {min_size} px")
    return {"width": width, "height": height, "format": fmt, "sha256": hashlib.sha256(data).hexdigest(),
            **fingerprints}
