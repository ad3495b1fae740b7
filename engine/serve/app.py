"""The reward server: FastAPI routes over RewardModel's frames pipeline, run by uvicorn.

    POST /score   multipart: meta (JSON) + frames (.npy | safetensors) or video (mp4, webm, ...)
                  -> {"model": ..., "shape": [B] | [B, P], "scores": {"overall": [...], ...}}
    GET /healthz  liveness (no token needed)
    GET /metrics  Prometheus text

Each request's frames are parsed and prepared (sampled, scaled, cropped: frames_api) in a
thread, then queued; the batcher runs the video encoder once for the clips of many requests and
the head per request, with the same functions as RewardModel.score_frames, so a served score is
the in-process one.
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations (Request),
# imported inside create_app, at definition time.
import threading
import time
from dataclasses import dataclass

from cleverward.engine.serve.batcher import Busy, DynamicBatcher, Job
from cleverward.engine.serve.config import ServeConfig, read_token
from cleverward.engine.serve.errors import RequestError
from cleverward.engine.serve.guard import Guard
from cleverward.engine.serve.metrics import ServerMetrics


def _require_serve_extra():
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"cleverward serve needs the 'serve' extra (pip install "
                           f"'cleverward[serve]'): {exc.name} is not installed") from exc


def run_batch(model, jobs: list[Job]) -> list:
    """One model call for the clips of all jobs (same N, H, W after prepare), the head per job.
    -> per job, {name: nested lists} or the exception that job raised."""
    import torch

    from cleverward.engine.frames_api import ScoreOptions, named_scores

    scorer, opts = model.frames_scorer, ScoreOptions()
    video = scorer.embed(torch.cat([j.frames for j in jobs]), opts)  # (sum B, Dv)
    out, start = [], 0
    for job in jobs:
        part = video[start : start + job.clips]
        start += job.clips
        try:
            with torch.no_grad():
                scores = scorer.head_scores(part, job.prompts, job.all_pairs, False)
            out.append({k: v.cpu().tolist() for k, v in named_scores(scores).items()})
        except Exception as exc:  # noqa: BLE001 - this request fails, the batch goes on
            out.append(exc)
    return out


@dataclass
class ServerState:
    model: object
    cfg: ServeConfig
    batcher: DynamicBatcher
    metrics: ServerMetrics


def _prepare(model, form_part, kind: str, data: bytes, meta, cfg: ServeConfig):
    """Bytes -> prepared frames (B, N, H, W, 3) on the model's device (runs in a thread)."""

    from cleverward.engine.frames_api import ScoreOptions, check_prompts
    from cleverward.engine.frames_input import as_frames_tensor
    from cleverward.engine.serve.payload import decode_video, load_frames

    if kind == "video":
        frames = decode_video(data, getattr(form_part, "filename", "") or "", model, cfg)
    else:
        frames = load_frames(data, cfg)
    try:
        x = as_frames_tensor(frames, kind).to(model.device)  # an array in native byte order
        check_prompts(meta.prompts, x.shape[0], meta.all_pairs)
        return model.frames_scorer.prepare(x, ScoreOptions(), name=kind).float()
    except (TypeError, ValueError) as exc:
        field = "meta.prompts" if str(exc).startswith("prompts") else kind
        raise RequestError(400, field, str(exc).split(": ", 1)[-1]) from exc


async def _read_form(request, cfg: ServeConfig):
    from starlette.datastructures import UploadFile

    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise RequestError(415, "content-type", f"{ctype or 'none'}; send multipart/form-data "
                           "with fields meta and frames (or video)")
    try:
        form = await request.form(max_files=1, max_fields=2, max_part_size=cfg.max_body_bytes)
    except Exception as exc:  # noqa: BLE001 - starlette raises its own parse errors
        raise RequestError(400, "body", f"not a readable multipart form ({exc})") from exc
    parts = [k for k in ("frames", "video") if k in form]
    if len(parts) != 1:
        raise RequestError(400, "frames", "send exactly one of the fields frames or video")
    part = form[parts[0]]
    if not isinstance(part, UploadFile):
        raise RequestError(400, parts[0], "must be a file part")
    return form, parts[0], part, await part.read()


def create_app(model, cfg: ServeConfig):
    """The ASGI app (FastAPI inside the Guard) for an already loaded model."""
    _require_serve_extra()
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    from cleverward.engine.serve.payload import parse_meta

    metrics = ServerMetrics()
    batcher = DynamicBatcher(lambda jobs: run_batch(model, jobs), cfg.max_batch,
                             cfg.max_wait_ms, cfg.max_queue, metrics)
    state = ServerState(model, cfg, batcher, metrics)

    @asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        yield
        await batcher.stop()

    api = FastAPI(title="cleverward reward server", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    api.state.server = state

    @api.exception_handler(RequestError)
    async def refused(_request, exc: RequestError):
        headers = {"Retry-After": str(cfg.retry_after_s)} if exc.status == 503 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @api.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": model.name, "queue": batcher.depth()}

    @api.get("/metrics")
    async def prometheus():
        body, ctype = metrics.render()
        return Response(body, media_type=ctype)

    @api.post("/score")
    async def score(request: Request):
        start = time.perf_counter()
        form, kind, part, data = await _read_form(request, cfg)
        meta = parse_meta(form.get("meta"), cfg)
        prepared = await run_in_threadpool(_prepare, model, part, kind, data, meta, cfg)
        try:
            fut = batcher.submit(Job(prepared, meta.prompts, meta.all_pairs))
        except Busy:
            raise RequestError(503, "queue", f"full ({cfg.max_queue} requests waiting); "
                               f"retry after {cfg.retry_after_s} s") from None
        scores = await fut
        shape = [len(prepared), len(meta.prompts)] if meta.all_pairs else [len(prepared)]
        metrics.latency.observe(time.perf_counter() - start)
        return {"model": model.name, "shape": shape, "scores": scores}

    token = read_token(cfg.token_file) if cfg.token_file else None
    return Guard(api, cfg, token, metrics)


def load_model(cfg: ServeConfig):
    """The model on its device, warmed up (encoders loaded, first batch run) before serving."""
    import numpy as np

    from cleverward.engine.device import resolve_device
    from cleverward.engine.model import RewardModel

    device = resolve_device(cfg.device)  # a GPU this machine lacks: the error names --device
    model = RewardModel.from_pretrained(cfg.model, device=device)
    h, w = model.video_encoder.frame_size
    model.score_frames(np.zeros((1, model.cfg.frames, h, w, 3), np.uint8), ["warm-up"])
    return model


def uvicorn_config(app, cfg: ServeConfig):
    import uvicorn

    # uvicorn counts the connection being refused too: N + 1 lets N requests in at once.
    return uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning",
                          access_log=False, limit_concurrency=cfg.max_uploads + 1,
                          timeout_keep_alive=5, lifespan="on")


def bind_socket(cfg: ServeConfig):
    """The listening address, bound now (before the model loads, so a port in use is one
    ValueError naming the field, not a log line after the model has loaded)."""
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(cfg.host, cfg.port,
                                                          type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ValueError(f"host: cannot resolve {cfg.host} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise ValueError(f"port: cannot bind {cfg.host}:{cfg.port} ({exc.strerror})") from None
    return sock


def serve(cfg: ServeConfig, model=None, sock=None) -> None:
    """Serve until interrupted (`cleverward serve`); sock: from bind_socket (else bound here)."""
    _require_serve_extra()
    import uvicorn

    sock = sock or bind_socket(cfg)
    model = model or load_model(cfg)
    uvicorn.Server(uvicorn_config(create_app(model, cfg), cfg)).run(sockets=[sock])


class RunningServer:
    """A server on a background thread (tests, benchmarks): .url, .stop()."""

    def __init__(self, model, cfg: ServeConfig) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn_config(create_app(model, cfg), cfg))
        self.thread = threading.Thread(target=self.server.run, name="reward-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reward server did not start")
            time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "RunningServer":  # noqa: UP037 - evaluated, see the imports
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
