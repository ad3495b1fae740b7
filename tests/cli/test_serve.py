"""The reward server on loopback: scores equal score_frames, requests are batched, and every
kind of bad request is refused with the right status while the server keeps serving."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import socket
import threading
import time
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import torch

from cleverward import RewardClient, RewardModel, RewardServerError
from cleverward.engine.serve import RunningServer, ServeConfig
from cleverward.engine.serve.batcher import Busy, DynamicBatcher, Job

PROMPTS = ["a red cat", "car", "a dog running on the beach"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.api.tiny import make_tiny_checkpoint

    return RewardModel.from_pretrained(make_tiny_checkpoint(tmp_path_factory.mktemp("serve")))


@pytest.fixture(scope="module")
def server(tiny):
    cfg = ServeConfig(port=0, max_wait_ms=30, max_batch=8, max_frames=64, max_side=512,
                      max_body_mb=2, max_prompt_chars=100, read_timeout_s=0.5, max_clips=4)
    with RunningServer(tiny, cfg) as srv:
        yield srv


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=isinstance(array, np.ndarray) and array.dtype == object)
    return buf.getvalue()


def _post(url, payload: bytes, meta=None, field="frames", filename="f.npy", headers=None):
    meta = json.dumps({"prompts": PROMPTS[:1]}) if meta is None else meta
    return httpx.post(f"{url}/score", data={"meta": meta}, headers=headers,
                      files={field: (filename, payload, "application/octet-stream")}, timeout=30)


def _clips(n=2, t=6, h=40, w=48, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, t, h, w, 3), dtype=np.uint8)


def _still_serving(url) -> None:
    r = _post(url, _npy(_clips(1)))
    assert r.status_code == 200, r.text


def _raw(url: str, head: bytes, parts=(), close=False, wait_s=5.0) -> tuple[str | None, float]:
    """Send head + parts on a raw socket; -> (status line or None, seconds until answered)."""
    host, port = urlparse(url).hostname, urlparse(url).port
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=wait_s) as sock:
        sock.sendall(head)
        for part in parts:
            sock.sendall(part)
        if close:
            return None, time.monotonic() - start
        try:
            data = sock.recv(4096)
        except TimeoutError:
            return None, time.monotonic() - start
    return (data.split(b"\r\n", 1)[0].decode() if data else None), time.monotonic() - start


def _head(length: int, extra: str = "") -> bytes:
    return (f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b"
            f"\r\nContent-Length: {length}\r\n{extra}\r\n").encode()


def test_served_scores_equal_score_frames(server, tiny):
    clips = _clips(3)
    with RewardClient(server.url, batch_size=2) as client:
        got = client.score(clips, PROMPTS)  # 2 requests: clips 0-1, clip 2
        grid = client.score(clips.astype(np.float32) / 255, PROMPTS[:2], all_pairs=True)
    ref = tiny.score_frames(clips, PROMPTS)
    ref_grid = tiny.score_frames(clips.astype(np.float32) / 255, PROMPTS[:2], all_pairs=True)
    assert list(got) == list(ref) and got["overall"].shape == (3,)
    assert grid["overall"].shape == (3, 2)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name].numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(grid[name], ref_grid[name].numpy(), atol=1e-5, rtol=0)


def test_the_client_splits_a_batch_whose_body_would_pass_the_limit(server, tiny):
    """4 float clips of 0.94 MiB each (3.75 MiB of .npy) against a 2 MiB --max-body-mb: one
    request is refused 413; with max_request_mb=2 the client sends 2 clips a request."""
    clips = _clips(4, t=8, h=100, w=100, seed=7).astype(np.float32) / 255
    with RewardClient(server.url, batch_size=8) as client, \
            pytest.raises(RewardServerError) as refused:
        client.score(clips, PROMPTS[:1] * 4)
    assert refused.value.status == 413
    ref = tiny.score_frames(clips, PROMPTS[:1] * 4)
    with RewardClient(server.url, batch_size=8, max_request_mb=2) as client:
        got = client.score(clips, PROMPTS[:1] * 4)
        got_async = asyncio.run(client.ascore(torch.from_numpy(clips), PROMPTS[:1] * 4))
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name].numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got_async[name], ref[name].numpy(), atol=1e-5, rtol=0)


def test_concurrent_requests_are_batched_and_all_answered(server, tiny):
    """8 async clients x 2 requests of one clip each: every answer equals the in-process
    score, and some model calls served more than one request (the batch-size histogram)."""
    clips = _clips(8, seed=5)
    client = RewardClient(server.url)

    async def one_client(i):
        return [await client.ascore(clips[i : i + 1], [PROMPTS[i % 3]]) for _ in range(2)]

    async def run_all():
        return await asyncio.gather(*[one_client(i) for i in range(8)])

    answers = asyncio.run(run_all())
    ref = tiny.score_frames(clips, [PROMPTS[i % 3] for i in range(8)])["overall"].numpy()
    for i, runs in enumerate(answers):
        for got in runs:
            np.testing.assert_allclose(got["overall"], ref[i : i + 1], atol=1e-5, rtol=0)
    text = httpx.get(f"{server.url}/metrics").text
    count = float(_metric(text, "cleverward_batch_requests_count"))
    singles = float(_metric(text, 'cleverward_batch_requests_bucket{le="1.0"}'))
    assert singles < count, "no model call served two requests at once"


def _metric(text: str, name: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    return line.split()[-1]


def test_healthz_and_metrics(server):
    assert urlparse(server.url).hostname == "127.0.0.1"  # the default host: loopback only
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    m = httpx.get(f"{server.url}/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    for name in ("cleverward_requests_total", "cleverward_batch_clips_bucket",
                 "cleverward_queue_depth", "cleverward_score_seconds_bucket"):
        assert name in m.text


def _safetensors_header(info: dict) -> bytes:
    """A safetensors payload of one tensor described by `info` (3 data bytes)."""
    import struct

    header = json.dumps({"f": {**info, "data_offsets": [0, 3]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"abc"


@pytest.mark.parametrize(("payload", "status", "words"), [
    (_npy(np.array([{"x": 1}], dtype=object)), 400, ["frames", "pickle"]),
    (pickle.dumps(np.zeros((1, 2, 8, 8, 3), np.uint8)), 400, ["frames", "pickle"]),
    (np.random.default_rng(0).bytes(5000), 400, ["frames", "neither"]),
    (_npy(np.zeros((1, 2, 8, 8, 3), np.int32)), 400, ["frames", "dtype int32"]),
    (_npy(np.zeros((2, 8, 3), np.uint8)), 400, ["frames", "rank 3"]),
    (_npy(np.zeros((1, 2, 8, 8, 5), np.uint8)), 400, ["frames", "RGB"]),
    (_npy(np.full((1, 2, 8, 8, 3), 9.0, np.float32)), 400, ["frames", "[0, 1]"]),
    (_npy(np.zeros((1, 65, 8, 8, 3), np.uint8)), 422, ["frames", "65 frames", "limit is 64"]),
    (_npy(np.zeros((1, 1, 8, 600, 3), np.uint8)), 422, ["frames", "8x600", "512"]),
    (_npy(np.zeros((5, 1, 8, 8, 3), np.uint8)), 422, ["frames", "5 clips"]),
    (_npy(np.zeros((1, 2, 8, 8, 3), np.uint8))[:-50], 400, ["frames", "truncated"]),
    (_safetensors_header({"dtype": "U8", "shape": ["x", 2, 8, 8, 3]}), 400, ["frames", "shape"]),
    (_safetensors_header({"dtype": "U8", "shape": [[1], 2, 8, 8, 3]}), 400, ["frames", "shape"]),
    (_safetensors_header({"dtype": "U8", "shape": None}), 400, ["frames", "shape"]),
    (_safetensors_header({"dtype": "U8"}), 400, ["frames", "shape"]),
])
def test_bad_frames_are_refused_naming_the_field(server, payload, status, words):
    r = _post(server.url, payload)
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.json()["error"]
    _still_serving(server.url)


@pytest.mark.parametrize(("meta", "status", "field"), [
    ("{not json", 400, "meta"),
    (json.dumps({"prompts": "a cat"}), 400, "meta.prompts"),
    (json.dumps({"prompts": ["x" * 101]}), 422, "meta.prompts"),
    (json.dumps({"prompts": ["a", "b"]}), 400, "meta.prompts"),  # 2 prompts for 1 clip
    (json.dumps({"prompts": ["a"], "eval": "os.system('x')"}), 400, "meta"),
    ('{"prompts": ["a \\ud800"]}', 400, "meta.prompts"),  # a lone surrogate: not text
])
def test_bad_metadata_is_refused_naming_the_field(server, meta, status, field):
    r = _post(server.url, _npy(_clips(1)), meta=meta)
    assert r.status_code == status and r.json()["field"] == field, r.text


def test_big_endian_npy_frames_score_as_native_ones(server, tiny):
    clips = _clips(1, seed=9).astype(np.float32) / 255
    r = _post(server.url, _npy(clips.astype(">f4")))
    assert r.status_code == 200, r.text
    want = tiny.score_frames(clips, PROMPTS[:1])["overall"].numpy()
    np.testing.assert_allclose(r.json()["scores"]["overall"], want, atol=1e-5, rtol=0)


def test_safetensors_frames_are_accepted(server, tiny):
    from safetensors.torch import save

    clips = torch.from_numpy(_clips(1, seed=9))
    r = _post(server.url, save({"frames": clips}), filename="f.safetensors")
    assert r.status_code == 200, r.text
    ref = tiny.score_frames(clips, PROMPTS[:1])["overall"]
    np.testing.assert_allclose(r.json()["scores"]["overall"], ref.numpy(), atol=1e-5)


def test_a_corrupt_mp4_is_refused(server):
    r = _post(server.url, b"\x00\x00\x00\x18ftypmp42" + b"\x17garbage" * 300, field="video",
              filename="broken.mp4")
    assert r.status_code == 400 and r.json()["field"] == "video", r.text
    _still_serving(server.url)


def test_random_bytes_as_the_body_are_refused(server):
    r = httpx.post(f"{server.url}/score", content=np.random.default_rng(1).bytes(3000),
                   headers={"content-type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 400, r.text
    r = httpx.post(f"{server.url}/score", content=b"\x80\x04K\x01.",
                   headers={"content-type": "application/python-pickle"})
    assert r.status_code == 415 and r.json()["field"] == "content-type"
    _still_serving(server.url)


def test_a_declared_1gb_body_is_refused_before_it_is_read(server):
    status, seconds = _raw(server.url, _head(2**30), [b"--b\r\n" + b"x" * 1000])
    assert status is not None and " 413 " in status and seconds < 3
    _still_serving(server.url)


def test_a_chunked_body_over_the_limit_is_cut_off_while_streaming(server):
    def body():  # no Content-Length: the limit (2 MiB) is counted as the chunks arrive
        for _ in range(64):
            yield b"y" * 2**16

    r = httpx.post(f"{server.url}/score", content=body(),
                   headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and r.json()["field"] == "body"
    _still_serving(server.url)


def test_a_body_that_never_finishes_times_out(server):
    status, seconds = _raw(server.url, _head(10_000), [b"--b\r\n"], wait_s=5)
    assert status is not None and " 408 " in status, status
    assert 0.4 < seconds < 4  # read_timeout_s = 0.5
    _still_serving(server.url)


def test_a_client_that_disconnects_mid_upload_is_dropped(server):
    def disconnects() -> float:
        return float(_metric(httpx.get(f"{server.url}/metrics").text,
                             "cleverward_client_disconnects_total"))

    before = disconnects()
    _raw(server.url, _head(100_000), [b"--b\r\n" + b"z" * 5000], close=True)
    deadline = time.monotonic() + 3
    while disconnects() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert disconnects() == before + 1
    _still_serving(server.url)


def test_a_bearer_token_is_required_when_configured(tiny, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    cfg = ServeConfig(port=0, token_file=str(token))
    with RunningServer(tiny, cfg) as srv:
        payload = _npy(_clips(1))
        assert _post(srv.url, payload).status_code == 401
        wrong = _post(srv.url, payload, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{srv.url}/metrics").status_code == 401
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
        ok = _post(srv.url, payload, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200, ok.text
        with RewardClient(srv.url, token_file=str(token)) as client:
            assert client.score(_clips(1), PROMPTS[:1])["overall"].shape == (1,)
        with RewardClient(srv.url, token="nope") as client, \
                pytest.raises(RewardServerError) as info:
            client.score(_clips(1), PROMPTS[:1])
        assert info.value.status == 401 and info.value.field == "authorization"


def test_a_full_queue_answers_503_with_retry_after_and_the_client_retries(tiny, monkeypatch):
    """max_batch 1, max_queue 1, the model held: request 1 runs, request 2 waits, request 3
    finds the queue full. Released, the client's retries get it scored."""
    from cleverward.engine.serve import app as app_module

    release, real = threading.Event(), app_module.run_batch

    def held(model, jobs):
        release.wait(10)
        return real(model, jobs)

    monkeypatch.setattr(app_module, "run_batch", held)
    with RunningServer(tiny, ServeConfig(port=0, max_batch=1, max_queue=1, max_wait_ms=0)) as srv:
        results: list = []
        threads = [threading.Thread(target=lambda: results.append(_post(srv.url, _npy(_clips(1)))))
                   for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.5)  # the first is in the model, the second in the queue
        busy = _post(srv.url, _npy(_clips(1)))
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert busy.json()["field"] == "queue"
        with RewardClient(srv.url, backoff_s=0.05, max_backoff_s=0.2) as client:
            future = client.submit(_clips(1), PROMPTS[:1])
            time.sleep(0.3)
            release.set()
            assert future.result(timeout=20)["overall"].shape == (1,)
        for t in threads:
            t.join(10)
        assert [r.status_code for r in results] == [200, 200]


def test_the_batcher_bounds_its_queue():
    async def run():
        gate = threading.Event()
        batcher = DynamicBatcher(lambda jobs: [gate.wait(5) and 1 for _ in jobs], max_batch=1,
                                 max_wait_ms=0, max_queue=2)
        await batcher.start()
        job = Job(torch.zeros(1, 1, 2, 2, 3), ["a"], False)
        first = batcher.submit(job)
        await asyncio.sleep(0.1)  # taken by the worker
        queued = [batcher.submit(job), batcher.submit(job)]
        with pytest.raises(Busy):
            batcher.submit(job)
        gate.set()
        done = await asyncio.gather(first, *queued)
        await batcher.stop()
        return done

    assert asyncio.run(run()) == [1, 1, 1]


@pytest.mark.slow
def test_an_uploaded_video_scores_as_score_files(default_model_server, clips_dir):
    srv, model = default_model_server
    path = clips_dir / "h264_long.mp4"
    with RewardClient(srv.url) as client:
        got = client.score_video(path, PROMPTS)
    ref = model.score_files([path], PROMPTS, all_pairs=True).scores
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name].numpy(), atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def default_model_server():
    model = RewardModel.from_pretrained("default")
    with RunningServer(model, ServeConfig(port=0)) as srv:
        yield srv, model


@pytest.mark.slow
def test_cleverward_serve_command_binds_loopback_and_needs_the_token(tiny, tmp_path):
    import os
    import subprocess
    import sys

    token = tmp_path / "token"
    token.write_text("tok")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from cleverward.cli.app import main; main()",
                             "serve", "--model",
                             tiny.name, "--port", str(port), "--token-file", str(token)],
                            stderr=subprocess.PIPE, env={**os.environ})
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.3)
        assert _post(url, _npy(_clips(1))).status_code == 401
        ok = _post(url, _npy(_clips(1)), headers={"Authorization": "Bearer tok"})
        assert ok.status_code == 200, ok.text
    finally:
        proc.terminate()
        proc.wait(20)


def test_cleverward_serve_on_a_port_in_use_says_so_before_loading_the_model(tiny):
    """The port is bound before the model loads: a busy one is one error naming --port (exit
    2, the CLI's user error), not 'serving ... on' followed by uvicorn's log line and exit 3."""
    import os
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([sys.executable, "-c", "from cleverward.cli.app import main; main()",
                              "serve", "--model", tiny.name, "--port", str(port)],
                             capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert res.returncode == 2, res.stderr
    assert f"--port: cannot bind 127.0.0.1:{port}" in res.stderr, res.stderr
    assert "serving" not in res.stderr and "Traceback" not in res.stderr


def test_uploads_at_once_are_bounded_so_memory_is(tiny):
    """max_uploads 3: three bodies that stall hold every slot, a fourth client gets 503 at
    once (never a fourth buffer of up to max_body); once the stalled ones time out (408),
    the server serves again."""
    cfg = ServeConfig(port=0, max_uploads=3, read_timeout_s=2.0)
    with RunningServer(tiny, cfg) as srv:
        host, port = urlparse(srv.url).hostname, urlparse(srv.url).port
        stalled = []
        try:
            for _ in range(3):  # one at a time: each request is in before the next connects
                stalled.append(socket.create_connection((host, port), timeout=5))
                stalled[-1].sendall(_head(50_000) + b"--b\r\n")
                time.sleep(0.15)
            assert _post(srv.url, _npy(_clips(1))).status_code == 503
            answers = [sock.recv(4096).split(b"\r\n", 1)[0] for sock in stalled]
            assert all(b" 408 " in a for a in answers), answers
        finally:
            for sock in stalled:
                sock.close()
        _still_serving(srv.url)
