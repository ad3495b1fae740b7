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
