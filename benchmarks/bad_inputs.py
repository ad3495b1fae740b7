"""A corpus of bad inputs for score-dir, built on demand: every kind of bad video and bad prompts
file the hardening pass (issue 14) found, and more. The tests (tests/cli/test_bad_inputs.py) and
the reliability benchmark (reliability.py) build it with the same functions, so the figures the
benchmark prints are about the cases the suite asserts.

Each video case says what a correct run does with it: an error row whose reason holds `expect`,
a warning in the summary holding it (the clip is still scored, or skipped when `scored` is
False), or a plain score. Each prompts case must make score-dir exit 2 with one message that
holds `expect` (the file, and the line where there is one) and no traceback.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOOD = ("good_a.mp4", "good_b.mp4")  # real clips beside the bad ones: both must be scored
PROMPT = "a square moving right"


@dataclass(frozen=True)
class VideoCase:
    name: str  # the row's "video" (or the warning's subject), relative to the folder
    outcome: str  # "error" | "warning" | "scored"
    expect: str  # a substring of the error or of the warning
    scored: bool = False  # for a warning: whether the clip is also scored


@dataclass(frozen=True)
class PromptsCase:
    name: str
    text: bytes
    expect: str  # a substring of the one message
    line: int | None  # the line the message must name ("file:line: ..."), else "file: ..."
    # score-dir's outcome, where it is not the parser's: a line naming a missing video is an
    # error row of that video (the run goes on, as for a corrupt one), not exit 2
    row_for: str | None = None

    def matches(self, path: Path, problems: list[str]) -> bool:
        where = f"{path}:{self.line}: " if self.line else f"{path}: "
        return (len(problems) == 1 and problems[0].startswith(where)
                and self.expect in problems[0])


def write_h264(path: Path, frames: int = 12, size: tuple[int, int] = (48, 64), options=None,
               gop: int = 12) -> Path:
    """A real H.264 MP4 (PyAV), frame i a gradient whose level depends on i."""
    import av

    h, w = size
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        stream.codec_context.gop_size = gop
        out.start_encoding()
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 1] = np.linspace(0, 200, w, dtype=np.uint8)[None, :]
            img[..., 0] = min(255, 10 * i)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _write_vp9(path: Path) -> None:
    import av

    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            img = np.full((48, 64, 3), 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _write_audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000, layout="mono")
        for i in range(6):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def png_bytes(h: int = 32, w: int = 32) -> bytes:
    """A valid RGB PNG, written by hand (zlib + CRCs), so no imaging library is needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = b"".join(b"\0" + bytes(v for x in range(w) for v in ((x * 7) % 256, y * 5 % 256, 160))
                   for y in range(h))  # filter type 0, then RGB triples
    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def _jpeg_bytes(path: Path) -> bytes:
    import av

    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
        img = np.full((32, 32, 3), 128, np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def _cut(src: Path, dst: Path, fraction: float) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])


def build_videos(root: Path) -> list[VideoCase]:
    """Write the good clips and every bad kind into `root` (made if missing) -> the cases."""
    root.mkdir(parents=True, exist_ok=True)
    for name in GOOD:
        write_h264(root / name, frames=12 + len(name))
    tmp = root.parent / f".{root.name}-scratch"
    tmp.mkdir(exist_ok=True)
    cases: list[VideoCase] = []

    def case(name: str, outcome: str, expect: str, scored: bool = False) -> Path:
        cases.append(VideoCase(name, outcome, expect, scored))
        return root / name

    case("zero_byte.mp4", "error", "file is empty").write_bytes(b"")
    rng = np.random.default_rng(0)
    case("random_bytes.mp4", "error", "not a readable video").write_bytes(
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    case("text.mp4", "error", "not a readable video").write_text("not a video at all\n" * 20)
    long = write_h264(tmp / "long.mp4", frames=48, gop=48)  # moov at the end: a cut loses it
    _cut(long, case("truncated_mid_gop.mp4", "error", "truncated"), 0.6)
    fast = write_h264(tmp / "fast.mp4", frames=48, gop=48, options={"movflags": "faststart"})
    _cut(fast, case("faststart_cut_99.mp4", "warning", "truncated", scored=True), 0.99)
    _write_audio_only(case("audio_only.mp4", "error", "no video stream"))
    write_h264(case("zero_frames.mp4", "error", "no video stream"), frames=0)
    case("png_named.mp4", "warning", "still image (png)", scored=True).write_bytes(png_bytes())
    case("jpeg_named.mp4", "warning", "still image", scored=True).write_bytes(
        _jpeg_bytes(tmp / "still.jpg"))
    write_h264(case("tiny_2x2.mp4", "warning", "upscaled 112x", scored=True), size=(2, 2))
    _write_vp9(case("vp9_named.mp4", "scored", ""))  # wrong extension, real content: fine
    _write_vp9(tmp / "whole.webm")  # a WebM cut in half: the reason says it was cut
    _cut(tmp / "whole.webm", case("webm_cut_half.webm", "error", "truncated: the file ends "
                                  "inside its Matroska Segment"), 0.5)
    os.mkfifo(case("fifo.mp4", "error", "a FIFO, not a regular file"))
    os.symlink("/dev/zero", case("dev_zero_link.mp4", "error", "a character device"))
    os.symlink(root / "gone.mp4", case("dangling_link.mp4", "error", "dangling symlink"))
    os.symlink("loop.mp4", case("loop.mp4", "error", "symlink loop"))
    os.symlink(GOOD[0], case("good_link.mp4", "scored", ""))  # a link to a regular file: fine
    frames = root / "frames_bad_png"
    frames.mkdir()
    (frames / "0001.png").write_bytes(png_bytes())
    (frames / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    cases.append(VideoCase("frames_bad_png", "error", "unreadable frame image"))
    fifo_frames = root / "frames_fifo_frame"  # a FIFO named as a frame: never opened
    fifo_frames.mkdir()
    (fifo_frames / "0001.png").write_bytes(png_bytes())
    os.mkfifo(fifo_frames / "0002.png")
    cases.append(VideoCase("frames_fifo_frame", "error", "unreadable frame image 0002.png (a FIFO"))
    elsewhere = tmp / "frames_elsewhere"  # symlinked folders are listed, not walked
    elsewhere.mkdir()
    for i in range(3):
        (elsewhere / f"{i:04d}.png").write_bytes(png_bytes())
    os.symlink(elsewhere, case("frames_link", "scored", ""))
    os.symlink(".", case("folder_link", "error", "a symlink to a folder that holds no frame"))
    bad_name = os.fsdecode(b"latin1_\xe9t\xe9.mp4")  # not UTF-8: skipped with a warning
    write_h264(root / bad_name)
    cases.append(VideoCase("latin1_\\xe9t\\xe9.mp4", "warning", "not valid UTF-8"))
    (root / ".git").mkdir()
    write_h264(root / ".git" / "obj.mp4")
    cases.append(VideoCase(".git/obj.mp4", "warning", "dot-folder(s) skipped, not walked: .git"))
    return cases


def prompts_cases() -> list[PromptsCase]:
    """Bad prompts files: each is one prompt line that is fine (line 1) and one that is not."""
    ok = json.dumps({"prompt": PROMPT}).encode() + b"\n"

    def second(text: bytes, expect: str) -> tuple[bytes, str, int]:
        return ok + text + b"\n", expect, 2

    rows = {
        "nested_100000": second(b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        "lone_surrogate": second(b'{"prompt": "\\ud800"}', "lone surrogate"),
        "misspelt_Video": second(b'{"Video": "good_a.mp4", "prompt": "x"}',
                                 "unknown key 'Video'; did you mean 'video'?"),
        "prompt_not_string": second(b'{"prompt": 42}', '"prompt" must be a non-empty string'),
        "video_not_string": second(b'{"prompt": "x", "video": ["a"]}',
                                   '"video" must be a non-empty string'),
        "empty_prompt": second(b'{"prompt": "  "}', '"prompt" must be a non-empty string'),
        "no_prompt_key": second(b'{"video": "good_a.mp4"}', 'missing "prompt"'),
        "dotdot_passwd": second(b'{"prompt": "x", "video": "../../../../etc/passwd"}',
                                "outside the scored folder"),
        "absolute_outside": second(b'{"prompt": "x", "video": "/etc/passwd"}',
                                   "outside the scored folder"),
        "missing_video": second(b'{"prompt": "x", "video": "ghost.mp4"}', "does not exist"),
        "not_json": second(b'{"prompt": "x"', "not valid JSON"),
        "array_line": second(b'["prompt", "x"]', "expected a JSON object, got list"),
        "string_line": second(b'"just a string"', "expected a JSON object, got str"),
        "unknown_key": second(b'{"prompt": "x", "frames": 8}', "unknown key 'frames'"),
        "nul_in_video": second(b'{"prompt": "x", "video": "good_a.mp4\\u0000.txt"}',
                               '"video" holds a NUL character'),
        "duplicate_video": second(b'{"video": "good_a.mp4", "prompt": "x", "video": "b.mp4"}',
                                  "key 'video' appears twice"),
        "video_null": second(b'{"prompt": "x", "video": null}',
                             '"video" must be a non-empty string (leave the key out'),
    }
    cases = [PromptsCase(n, t, e, line, "ghost.mp4" if n == "missing_video" else None)
             for n, (t, e, line) in rows.items()]
    cases += [
        PromptsCase("latin1_file", ok + '{"prompt": "caf\xe9"}\n'.encode("latin-1"),
                    "not UTF-8 text", None),
        PromptsCase("empty_file", b"", "holds no prompts", None),
        PromptsCase("only_comments", b"# nothing here\n\n", "holds no prompts", None),
    ]
    return cases
