"""Honest reasons and warnings about a file the decoder accepted or refused.

FFmpeg reports a cut MP4 with whatever errno its last read hit ("Operation not permitted" for a
faststart file cut inside its media data): the box structure says what really happened. ISO BMFF
(MP4, MOV, M4V, 3GP) is a sequence of top-level boxes, each `size (4 bytes, big endian), type (4)`,
size 1 meaning a 64-bit size follows and 0 meaning "to the end of the file".
"""

from __future__ import annotations

import os

from cleverward.engine.decode.source import open_regular

_MP4_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".3gp"})
MAX_UPSCALE = 8.0  # beyond this the encoder sees interpolated blur, not the video
# FFmpeg demuxers that read one still image (a raw MJPEG stream is how a lone JPEG probes)
_IMAGE_FORMATS = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe",
                            "tiff_pipe", "mjpeg"})
_IMAGE_CODECS = {"mjpeg": "jpeg", "png": "png", "webp": "webp", "bmp": "bmp", "tiff": "tiff"}


def mp4_problem(path: str) -> str | None:
    """Why an MP4-family file is structurally broken (truncated box, no moov), or why a
    Matroska / WebM file is cut (its Segment ends past the file's end), or None."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _MP4_SUFFIXES and suffix not in _MKV_SUFFIXES:
        return None
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            return _walk_boxes(f, size) if suffix in _MP4_SUFFIXES else _mkv_segment(f, size)
    except OSError:
        return None


_MKV_SUFFIXES = frozenset({".mkv", ".webm"})
_EBML, _SEGMENT = 0x1A45DFA3, 0x18538067


def _vint(f, keep_marker: bool) -> tuple[int, int, bool] | None:
    """One EBML variable-length integer -> (value, its length, all value bits set)."""
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = f.read(length - 1)
    if len(rest) != length - 1:
        return None
    value = int.from_bytes(first + rest, "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
    return value, length, value == (1 << (7 * length)) - 1


def _mkv_segment(f, size: int) -> str | None:
    """Matroska: an EBML header element, then a Segment whose size is stated (or "unknown", as
    a live recording writes it: then nothing can be said). A file that ends before its Segment
    does was cut; FFmpeg decodes what is there and only logs "File ended prematurely"."""
    ident = _vint(f, keep_marker=True)
    if ident is None or ident[0] != _EBML:
        return None
    header = _vint(f, keep_marker=False)
    if header is None:
        return None
    f.seek(f.tell() + header[0])
    ident, seg = _vint(f, keep_marker=True), _vint(f, keep_marker=False)
    if ident is None or ident[0] != _SEGMENT or seg is None or seg[2]:
        return None
    end = f.tell() + seg[0]
    if end > size:
        return (f"truncated: the file ends inside its Matroska Segment, {size} of {end} bytes "
                "present")
    return None


def _walk_boxes(f, size: int) -> str | None:
    pos, seen = 0, []
    while pos + 8 <= size and len(seen) < 10_000:
        f.seek(pos)
        head = f.read(16)
        box, kind = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
        if box == 1 and len(head) >= 16:
            box = int.from_bytes(head[8:16], "big")
        elif box == 0:
            box = size - pos
        if box < 8:
            return None if seen else f"not an MP4 file (bad first box at byte {pos})"
        if not seen and kind != "ftyp":
            return None  # not ISO BMFF after all: let FFmpeg's reason stand
        seen.append(kind)
        if pos + box > size:
            missing = "" if "moov" in seen else "; its 'moov' index was never reached"
            return (f"truncated: the file ends inside its {kind!r} box, {size - pos} of {box} "
                    f"bytes present{missing}")
        pos += box
    if seen and "moov" not in seen:
        return "no 'moov' box: the MP4 index is missing (cut or never finished)"
    return None


def container_notes(container, src_hw: tuple[int, int], out_hw: tuple[int, int]) -> list[str]:
    """Warnings for a file that decodes but is doubtful: a still image in a video's name, or a
    tiny frame blown up more than MAX_UPSCALE times."""
    notes = []
    fmt = container.format.name.split(",")[0]
    codec = container.streams.video[0].codec_context.name
    if fmt in _IMAGE_FORMATS and codec in _IMAGE_CODECS:
        notes.append(f"is a still image ({_IMAGE_CODECS[codec]}), scored as a one-frame video")
    (h, w), (oh, ow) = src_hw, out_hw
    scale = max(oh / max(h, 1), ow / max(w, 1))
    if scale > MAX_UPSCALE:
        notes.append(f"tiny frames ({w}x{h}) upscaled {scale:.0f}x to {ow}x{oh}")
    return notes


def file_notes(path: str, height: int, width: int) -> list[str]:
    """The same warnings for a file another decoder (DALI) accepted: a header-only probe."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return []
            ctx = container.streams.video[0].codec_context
            notes = container_notes(container, (ctx.height, ctx.width), (height, width))
    except (av.FFmpegError, OSError, ValueError):
        return []
    cut = mp4_problem(path)
    return notes + ([f"{cut}; scored from the frames that decode"] if cut else [])
