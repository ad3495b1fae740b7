"""What may be read as a video (source.py), honest reasons for cut MP4s (diagnose.py) and the
folder walk (dot-folders, names that are not UTF-8): fast checks without a model."""

import os

import pytest

from cleverward.benchmarks.bad_inputs import write_h264
from cleverward.engine.decode.diagnose import mp4_problem
from cleverward.engine.decode.source import NotRegularFile, open_regular, source_problem
from cleverward.engine.embedding_cache import content_digest
from cleverward.engine.scoring import list_folder


def test_only_regular_files_and_folders_are_sources(tmp_path):
    (tmp_path / "ok.mp4").write_bytes(b"x")
    os.symlink("ok.mp4", tmp_path / "link.mp4")
    os.mkfifo(tmp_path / "fifo.mp4")
    os.symlink("/dev/zero", tmp_path / "zero.mp4")
    os.symlink("nowhere.mp4", tmp_path / "dangling.mp4")
    os.symlink("loop.mp4", tmp_path / "loop.mp4")
    assert source_problem(tmp_path / "ok.mp4") is None
    assert source_problem(tmp_path / "link.mp4") is None  # followed to a regular file
    assert source_problem(tmp_path) is None  # a folder (of frames) is fine
    assert source_problem(tmp_path / "fifo.mp4").startswith("a FIFO, not a regular file")
    assert source_problem(tmp_path / "zero.mp4").startswith("a character device")
    assert source_problem(tmp_path / "dangling.mp4") == (
        "dangling symlink (its target 'nowhere.mp4' does not exist)")
    assert source_problem(tmp_path / "loop.mp4").startswith("symlink loop")
    assert source_problem(tmp_path / "absent.mp4") == "no such file or folder"


def test_hash_never_reads_a_fifo_or_device(tmp_path):
    """Both returned at once: a blocking open or an endless read would hang this test."""
    os.mkfifo(tmp_path / "fifo.mp4")
    for path in (tmp_path / "fifo.mp4", "/dev/zero"):
        with pytest.raises(NotRegularFile, match="not a regular file"):
            content_digest(path)
        with pytest.raises(NotRegularFile):
            open_regular(path)


def test_cut_mp4_reasons(tmp_path):
    """PyAV's MP4 muxer writes moov after mdat unless faststart: a cut loses the index."""
    plain = write_h264(tmp_path / "plain.mp4", frames=24)
    fast = write_h264(tmp_path / "fast.mp4", frames=24, options={"movflags": "faststart"})
    assert mp4_problem(str(plain)) is None and mp4_problem(str(fast)) is None
    for src, fraction, says in ((plain, 0.6, "its 'moov' index was never reached"),
                                (fast, 0.99, "truncated: the file ends inside its 'mdat' box")):
        cut = tmp_path / f"cut-{src.name}"
        data = src.read_bytes()
        cut.write_bytes(data[: int(len(data) * fraction)])
        assert says in mp4_problem(str(cut))
    box_only = tmp_path / "header.mp4"
    box_only.write_bytes(plain.read_bytes()[:32])  # ftyp box and nothing else
    assert "no 'moov' box" in mp4_problem(str(box_only))
    assert mp4_problem(str(tmp_path / "x.webm")) is None  # not ISO BMFF: FFmpeg's reason stands


def test_walk_skips_dot_folders_and_names_that_are_not_utf8(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    (tmp_path / ".git" / "objects" / "b.mp4").write_bytes(b"x")
    (tmp_path / "sub" / ".cache").mkdir(parents=True)
    (tmp_path / "sub" / "c.mp4").write_bytes(b"x")
    (tmp_path / "sub" / ".cache" / "d.mp4").write_bytes(b"x")
    (tmp_path / os.fsdecode(b"caf\xe9.mp4")).write_bytes(b"x")
    listing = list_folder(tmp_path)
    assert listing.videos == ["a.mp4", "sub/c.mp4"]
    assert listing.skipped_dirs == 2 and sorted(listing.hidden) == [".git", "sub/.cache"]
    assert listing.warnings == ["caf\\xe9.mp4: file name is not valid UTF-8; skipped (rename it)"]
    assert listing.skipped_files == 1


def _png(path):
    from cleverward.benchmarks.bad_inputs import png_bytes

    path.write_bytes(png_bytes())
    return path


def test_a_frames_folder_with_a_fifo_or_device_frame_is_one_error_not_dropped(tmp_path):
    """Before: a FIFO (or a link to /dev/zero) named 0002.png made the folder 'not a frames
    folder', so its frames were counted as skipped non-video files and the clip vanished from
    the run without a row. Now the folder is listed and its decode names the bad frame, at
    once (a FIFO is never opened: a blocking open would hang this test)."""
    from cleverward.engine.config import DecodeConfig
    from cleverward.engine.decode import DecodeError, decode_with_notes

    for name, plant in (("fifo", os.mkfifo), ("zero", lambda p: os.symlink("/dev/zero", p)),
                        ("dangling", lambda p: os.symlink("gone.png", p))):
        folder = tmp_path / "videos" / f"frames_{name}"
        folder.mkdir(parents=True)
        _png(folder / "0001.png")
        plant(folder / "0002.png")
    listing = list_folder(tmp_path / "videos")
    assert listing.videos == ["frames_dangling", "frames_fifo", "frames_zero"]
    assert listing.skipped_files == 0
    reasons = {"fifo": "a FIFO, not a regular file", "zero": "a character device",
               "dangling": "dangling symlink"}
    for name, reason in reasons.items():
        with pytest.raises(DecodeError) as err:
            decode_with_notes(str(tmp_path / "videos" / f"frames_{name}"), DecodeConfig(frames=2))
        assert err.value.path.endswith(f"frames_{name}/0002.png")
        assert err.value.reason.startswith("unreadable frame image 0002.png (")
        assert reason in err.value.reason
        with pytest.raises(OSError):  # the cache's hash refuses it too: a miss, then that error
            content_digest(tmp_path / "videos" / f"frames_{name}")


def test_a_symlink_to_a_folder_is_listed_read_if_frames_else_an_error(tmp_path):
    """Before: os.walk passed over symlinked folders, so `frames -> /data/frames` and
    `more -> /data/videos` dropped out of the run without a row or a warning."""
    from cleverward.engine.config import DecodeConfig
    from cleverward.engine.decode import DecodeError, decode_with_notes

    frames = tmp_path / "elsewhere" / "frames"
    frames.mkdir(parents=True)
    for i in range(3):
        _png(frames / f"{i:04d}.png")
    others = tmp_path / "elsewhere" / "videos"
    others.mkdir()
    write_h264(others / "c.mp4")
    root = tmp_path / "videos"
    root.mkdir()
    write_h264(root / "a.mp4")
    os.symlink(frames, root / "frames_link")
    os.symlink(others, root / "videos_link")
    os.symlink(".", root / "self_link")  # would loop if it were walked
    assert list_folder(root).videos == ["a.mp4", "frames_link", "self_link", "videos_link"]
    got, _ = decode_with_notes(str(root / "frames_link"), DecodeConfig(frames=2))
    want, _ = decode_with_notes(str(frames), DecodeConfig(frames=2))
    assert got.shape == (2, 224, 224, 3) and (got == want).all()
    for name in ("videos_link", "self_link"):
        with pytest.raises(DecodeError, match="a symlink to a folder that holds no frame images"):
            decode_with_notes(str(root / name), DecodeConfig(frames=2))


def test_a_cut_webm_or_mkv_is_named_as_cut(tmp_path):
    """Before: a WebM cut in half was scored from what decodes with no warning (FFmpeg only
    logged 'File ended prematurely'), or refused as 'Input/output error'. Its Segment states
    its size: the file ends before it. The decoder uses this reason for an error row and, for
    a file that still decodes, for a 'scored from the frames that decode' warning."""
    from cleverward.benchmarks.bad_inputs import _write_vp9

    _write_vp9(tmp_path / "whole.webm")
    data = (tmp_path / "whole.webm").read_bytes()
    assert mp4_problem(str(tmp_path / "whole.webm")) is None
    (tmp_path / "cut.webm").write_bytes(data[: len(data) // 2])
    assert mp4_problem(str(tmp_path / "cut.webm")) == (
        f"truncated: the file ends inside its Matroska Segment, {len(data) // 2} of "
        f"{len(data)} bytes present")
    (tmp_path / "cut.mkv").write_bytes(data[:60])  # the suffix picks the check, not the content
    assert mp4_problem(str(tmp_path / "cut.mkv")).startswith("truncated: the file ends inside")
    (tmp_path / "text.webm").write_text("not matroska at all")
    assert mp4_problem(str(tmp_path / "text.webm")) is None  # FFmpeg's own reason stands
