"""Video indexes: kind choice, approximate recall on clustered data, on-disk round trip, search
agreeing with the reward head, the FAISS device decision."""

import json
import shutil
from types import SimpleNamespace

import faiss  # noqa: F401  (a core dependency: a broken install fails collection, never skips)
import numpy as np
import pytest
import torch

from cleverward.benchmarks.bench_faiss import clustered_vectors
from cleverward.engine import faiss_device
from cleverward.engine import video_index as vi


@pytest.fixture(scope="module")
def model():
    from cleverward.engine.model import RewardModel

    return RewardModel.from_pretrained("default")


@pytest.fixture(scope="module")
def clustered():
    data = clustered_vectors(20_200, d=64, clusters=20_000 // 30, seed=1)
    return data[:20_000], data[20_000:]  # stored, held-out queries


def test_choose_kind():
    assert vi.choose_kind(10)[0] == "flat"
    assert vi.choose_kind(100_000)[0] == "flat"
    assert vi.choose_kind(100_001)[0] == "ivf"
    assert vi.choose_kind(10, "hnsw") == ("hnsw", "requested")


@pytest.mark.parametrize("kind, param", [("ivf", 8), ("hnsw", 32)])
def test_approximate_recall_on_clustered_data(clustered, kind, param):
    stored, queries = clustered
    index = vi.build_faiss_index(stored, kind, hnsw_m=16, ef_construction=40)
    vi.set_search_param(index, kind, param)
    truth = vi.exact_neighbours(stored, queries, 10)
    recall = vi.recall_at_k(index.search(queries, 10)[1], truth)
    assert recall >= 0.9, f"{kind} recall@10 {recall:.3f} at param {param}"


def test_tuning_reaches_the_target(clustered):
    stored, _ = clustered
    index = vi.build_faiss_index(stored, "ivf")
    value, recall = vi.tune_search_param(index, "ivf", stored, target=0.97, queries=100)
    assert recall >= 0.97 and 1 <= value <= index.nlist


def test_recall_at_k_counts_overlap():
    found = np.array([[1, 2, 3], [4, 5, -1]])
    truth = np.array([[3, 2, 9], [4, 5, 6]])
    assert vi.recall_at_k(found, truth) == pytest.approx((2 / 3 + 2 / 3) / 2)


@pytest.fixture()
def corpus(tmp_path, clips_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("h264_long.mp4", "vp9.webm", "h264_short.mp4"):
        shutil.copy(clips_dir / name, videos / name)
    (videos / "broken.mp4").write_bytes(b"not a video")
    return videos


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_index_round_trip_on_disk(tmp_path, corpus, model, kind):
    cfg = vi.IndexConfig(videos_dir=str(corpus), cache_dir=str(tmp_path / "c"), kind=kind)
    report = vi.build_video_index(cfg, model=model)
    assert (report.count, report.decoded, report.cache_hits) == (3, 3, 0)
    assert set(report.failed) == {"broken.mp4"}
    assert (report.recall is None) == (kind == "flat")
    folder = vi.index_location(tmp_path / "c", str(corpus), "default", kind)
    index, meta = vi.load_index(folder)
    assert meta["paths"] == ["h264_long.mp4", "h264_short.mp4", "vp9.webm"]
    assert index.ntotal == 3 and meta["kind"] == kind and meta["decode_key"].startswith("frames=8")
    again = vi.build_video_index(cfg, model=model)  # everything now comes from the cache
    assert (again.decoded, again.cache_hits) == (0, 3)
    assert len(list(folder.glob("index-*.faiss"))) == 1  # the old index file was replaced


def test_auto_goes_approximate_beyond_exact_max(tmp_path, corpus, model):
    cfg = vi.IndexConfig(videos_dir=str(corpus), cache_dir=str(tmp_path / "c"), exact_max=2)
    report = vi.build_video_index(cfg, model=model)
    assert report.kind == "ivf" and "3 videos > 2" in report.reason
    assert report.params["nprobe"] >= 1 and report.recall == 1.0  # one list: exact
    hits, meta = vi.search_videos(vi.SearchConfig("a moving square", cache_dir=str(tmp_path / "c"),
                                                  videos_dir=str(corpus)), model=model)
    assert len(hits) == 3 and meta["params"] == report.params


def test_search_equals_the_reward_head(tmp_path, corpus, model):
    cache = str(tmp_path / "c")
    vi.build_video_index(vi.IndexConfig(videos_dir=str(corpus), cache_dir=cache), model=model)
    prompt = "a white square moving right over a gradient"
    hits, meta = vi.search_videos(vi.SearchConfig(prompt, top_k=10, cache_dir=cache), model=model)
    assert meta["count"] == 3 and len(hits) == 3
    from cleverward.engine.decode import decode_clip

    clips = [decode_clip(h.path, model.decode_config(8)) for h in hits]
    expected = model.score(model.encode_videos(clips), model.encode_texts([prompt]))[:, 0, 0]
    np.testing.assert_allclose([h.score for h in hits], expected, atol=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_refuses_an_index_of_other_weights(tmp_path, corpus, model):
    cache = str(tmp_path / "c")
    vi.build_video_index(vi.IndexConfig(videos_dir=str(corpus), cache_dir=cache), model=model)
    from cleverward.engine.model import RewardModel

    other = RewardModel.from_pretrained("default")
    with torch.no_grad():
        other.head.video_proj.bias.add_(0.1)
    with pytest.raises(ValueError, match="rebuild"):
        vi.search_videos(vi.SearchConfig("x", cache_dir=cache), model=other)


def test_each_kind_keeps_its_own_index_and_search_picks_by_kind(tmp_path, corpus, model):
    """An HNSW build after the exact one must not replace it: both stay on disk, a search
    without --kind uses the one built last, `kind=` picks the other."""
    cache = str(tmp_path / "c")
    for kind in ("flat", "hnsw"):
        vi.build_video_index(vi.IndexConfig(videos_dir=str(corpus), cache_dir=cache, kind=kind),
                             model=model)
    folders = {vi.index_location(tmp_path / "c", str(corpus), "default", k) for k in
               ("flat", "hnsw")}
    assert len(folders) == 2 and all((f / "meta.json").is_file() for f in folders)
    query = dict(text="a moving square", cache_dir=cache, videos_dir=str(corpus))
    assert vi.search_videos(vi.SearchConfig(**query), model=model)[1]["kind"] == "hnsw"
    assert vi.search_videos(vi.SearchConfig(**query, kind="flat"), model=model)[1]["kind"] == (
        "flat")
    with pytest.raises(FileNotFoundError, match="--kind ivf"):
        vi.search_videos(vi.SearchConfig(**query, kind="ivf"), model=model)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="index build"):
        vi.find_index(tmp_path, "default")
    with pytest.raises(FileNotFoundError, match="index build"):
        vi.find_index(tmp_path, "default", str(tmp_path / "videos"))


def test_load_rejects_inconsistent_files(tmp_path):
    index = vi.build_faiss_index(clustered_vectors(50, d=8, clusters=5), "flat")
    vi.save_index(tmp_path, index, {"format": vi.FORMAT, "paths": ["a.mp4"]})
    with pytest.raises(ValueError, match="50 vectors for 1 paths"):
        vi.load_index(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format": "other/1"}))
    with pytest.raises(ValueError, match="not a"):
        vi.load_index(tmp_path)


def test_config_is_validated(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        vi.IndexConfig(videos_dir=str(tmp_path), kind="lsh")
    with pytest.raises(ValueError, match="top_k"):
        vi.SearchConfig("x", top_k=0)


def test_faiss_runs_on_cpu_here():
    device, why = faiss_device.faiss_status()
    assert device == "cpu" and "CPU" in why
    index = vi.build_faiss_index(clustered_vectors(20, d=8, clusters=2), "flat")
    assert faiss_device.to_search_device(index)[0] is index


def test_faiss_moves_supported_indexes_to_a_gpu_when_one_is_visible(monkeypatch):
    moved = []
    fake = SimpleNamespace(
        __version__="test", omp_get_max_threads=lambda: 2, get_num_gpus=lambda: 1,
        StandardGpuResources=lambda: "resources",
        index_cpu_to_gpu=lambda res, dev, index: moved.append((res, dev)) or "gpu-index")
    monkeypatch.setattr(faiss_device, "_faiss", lambda: fake)
    faiss_device.faiss_status.cache_clear()
    faiss_device._gpu_resources.cache_clear()
    try:
        assert faiss_device.faiss_status()[0] == "gpu"
        flat = vi.build_faiss_index(clustered_vectors(20, d=8, clusters=2), "flat")
        hnsw = vi.build_faiss_index(clustered_vectors(20, d=8, clusters=2), "hnsw")
        assert faiss_device.to_search_device(flat)[0] == "gpu-index"
        assert moved == [("resources", 0)]
        index, why = faiss_device.to_search_device(hnsw)
        assert index is hnsw and "no faiss GPU" in why
    finally:
        faiss_device.faiss_status.cache_clear()
        faiss_device._gpu_resources.cache_clear()
