"""The benchmark corpus: T2V-shaped H.264 clips with one long GOP, deterministic, cached."""

from __future__ import annotations

import json

import pytest

from cleverward.benchmarks import corpus as corpus_mod
from cleverward.benchmarks.corpus import CorpusProfile, make_corpus

TINY = CorpusProfile("tiny", height=64, width=96, fps=8, seconds=3.0)  # 24 frames


def _probe(path) -> dict:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = [f.key_frame for f in container.decode(video=0)]
        return {"codec": stream.codec_context.name, "size": (stream.height, stream.width),
                "fps": stream.average_rate, "frames": len(keys), "keyframes": keys}


@pytest.fixture()
def tiny(tmp_path):
    return tmp_path / "corpus", make_corpus(tmp_path / "corpus", 2, TINY, seed=0)


def test_clips_are_h264_with_one_long_gop(tiny):
    _, (videos, prompts) = tiny
    assert len(videos) == len(prompts) == 2 and len(set(prompts)) == 2
    for path in videos:
        info = _probe(path)
        assert (info["codec"], info["size"], info["fps"], info["frames"]) == (
            "h264", (64, 96), 8, 24)
        assert info["keyframes"][0] and not any(info["keyframes"][1:])


def test_manifest_and_prompts_file(tiny):
    from cleverward.engine.prompts import parse_prompts

    folder, (videos, prompts) = tiny
    manifest = json.loads((folder / "corpus.json").read_text())
    assert manifest["params"]["profile"]["height"] == 64 and manifest["params"]["seed"] == 0
    entries = parse_prompts(folder / "prompts.jsonl", videos_dir=folder)
    expected = [(v.name, p) for v, p in zip(videos, prompts, strict=True)]
    assert [(e.video, e.prompt) for e in entries] == expected


def test_second_call_reuses_without_writing(tiny, monkeypatch):
    folder, (videos, prompts) = tiny
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_encoding(*args, **kwargs):
        raise AssertionError("a cached clip was re-encoded")

    monkeypatch.setattr(corpus_mod, "encode_clip", no_encoding)
    again = make_corpus(folder, 2, TINY, seed=0)
    assert again == (videos, prompts)
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_same_seed_same_bytes_and_damaged_clip_is_remade(tiny, tmp_path):
    folder, (videos, _) = tiny
    other = make_corpus(tmp_path / "other", 2, TINY, seed=0).videos
    assert [v.read_bytes() for v in other] == [v.read_bytes() for v in videos]
    original = videos[1].read_bytes()
    videos[1].write_bytes(original[: len(original) // 2])
    make_corpus(folder, 2, TINY, seed=0)
    assert videos[1].read_bytes() == original


def test_growing_reuses_and_new_parameters_remake(tiny, monkeypatch):
    folder, (videos, _) = tiny
    made = []
    real = corpus_mod.encode_clip
    monkeypatch.setattr(corpus_mod, "encode_clip",
                        lambda path, *a: made.append(path.name) or real(path, *a))
    make_corpus(folder, 3, TINY, seed=0)
    assert made == ["clip_0002.mp4"]
    make_corpus(folder, 1, TINY, seed=1)
    assert made[1:] == ["clip_0000.mp4"]


def test_named_profile_with_a_shorter_length(tmp_path):
    videos, _ = make_corpus(tmp_path, 1, "480p", seconds=0.5)
    info = _probe(videos[0])
    assert (info["size"], info["fps"], info["frames"]) == ((480, 720), 8, 4)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown profile"):
        make_corpus("unused", 1, "1080p")
    with pytest.raises(ValueError, match="CorpusProfile.height"):
        CorpusProfile("odd", height=63, width=96, fps=8, seconds=1.0)


def test_cli_makes_the_corpus(tmp_path, capsys):
    assert corpus_mod.main([str(tmp_path), "--n", "1", "--profile", "480p",
                            "--seconds", "0.25"]) == 0
    assert "1 clips" in capsys.readouterr().out
    assert (tmp_path / "clip_0000.mp4").is_file()
    with pytest.raises(SystemExit) as exit_info:
        corpus_mod.main(["--help"])
    assert exit_info.value.code == 0
