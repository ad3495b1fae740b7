"""DALI decoding: NVDEC on a GPU (DALI's "mixed" backend), libavcodec on CPU (VP8, VP9, MJPEG).

Same frames as the PyAV decoder. The frame count comes from the same demux index PyAV uses
(`pyav_decoder.probe`: packets only, no decoding), the indices from `uniform_indices`, and they
are handed to `fn.decoders.video(frames=...)`, which decodes exactly those frames (repeats
allowed, so a clip shorter than N repeats frames as PyAV does). `pad_mode="none"` makes an index
past DALI's own frame count an error instead of a silent black frame.

Same geometry as PyAV. The scaled size (`resize.scaled_size`: cover the target, aspect kept) and
the centre-crop offset are computed on the host and fed per clip, so `fn.resize` gets an exact
size and `fn.slice` an absolute window: the crop is the same pixels as `resize.center_crop`.
Interpolation differs: DALI converts YUV to RGB at full size and then resizes linearly with
antialiasing (a triangle filter widened by the scale factor when shrinking); PyAV's swscale
converts and scales in one pass with SWS_BILINEAR (also widened when shrinking), on subsampled
chroma. With the colour conversion this leaves DALI a level or two brighter on average (measured
in tests/engine/test_dali_decoder.py), never a different frame or a shifted crop.

Pipelines are built once per device and serve every file and every DecodeConfig: the file bytes,
frame indices, sizes and crop window all arrive through `fn.external_source`, so nothing in the
graph depends on the clip or the config. `decode_many` feeds BATCH (16) clips a pipeline run and
keeps PREFETCH runs in flight on DALI's pipelined executor (feed_input / schedule_run /
outputs), on the run's GPU (device_id from environment.default_device); on NVDEC the frames are
handed to torch through DLPack and stay on the GPU. A clip DALI should not take (pixel formats
outside DALI_PIX_FMTS: NVDEC has no H.264 High10 / 4:2:2 / 4:4:4) or fails on is decoded by
PyAV instead, counted in stats(); a failed batch is re-run a clip at a time so the failure is
pinned to its clip. Thread safety: a DALI pipeline is not re-entrant, so each call checks a
pipeline out of a small pool for its own exclusive use and returns it afterwards; threads never
share a pipeline (DALI releases the GIL while it runs). A pipeline that raised is dropped, since
DALI marks it invalid.

Nothing here imports DALI at import time (it takes about a second): `get_decoder()` only checks
that the package exists, and DALI is imported when the first pipeline is built.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.resize import scaled_size
from cleverward.engine.decode.sampling import uniform_indices

# FFmpeg canonical codec names (`Codec.canonical_name`) each DALI backend decodes.
CPU_CODECS = frozenset({"vp8", "vp9", "mjpeg"})
GPU_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mjpeg", "mpeg4"})
_CODEC_LABELS = {"h264": "H.264", "hevc": "HEVC", "av1": "AV1", "mpeg4": "MPEG-4"}
# 8-bit 4:2:0, the chroma layout and depth both DALI backends decode for every codec above
# (NVDEC has no H.264 High10 / 4:2:2 / 4:4:4; HEVC's are card-dependent): anything else is
# handed to PyAV up front instead of failing inside a batch.
DALI_PIX_FMTS = frozenset({"yuv420p", "yuvj420p", "nv12"})
BATCH = 16  # clips per pipeline run
PREFETCH = 2  # pipeline runs in flight (DALI's pipelined executor)


@dataclass(frozen=True)
class StreamInfo:
    codec: str  # FFmpeg canonical name: "vp9", "h264", ...
    height: int
    width: int
    num_frames: int  # as the PyAV decoder counts them
    pix_fmt: str = "yuv420p"  # FFmpeg pixel format of the coded stream


@cache
def _import_dali():
    """-> (fn, types, Pipeline), or the ImportError text (a broken install, not a missing one)."""
    try:
        from nvidia.dali import fn, types
        from nvidia.dali.pipeline import Pipeline
    except (ImportError, OSError) as exc:  # a broken install or a missing shared library
        return f"nvidia.dali does not import: {exc}"
    return fn, types, Pipeline


def dali_installed() -> bool:
    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:  # no `nvidia` namespace package at all
        return False


@lru_cache(maxsize=4096)
def _codec_of(path: str, mtime_ns: int, size: int) -> str | None:
    """Codec of the first video stream from the container header (no demuxing); cached per file
    version (mtime and size are part of the key). None if PyAV cannot open it."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return None
            return container.streams.video[0].codec_context.codec.canonical_name
    except (av.FFmpegError, ValueError, OSError):
        return None


def codec_of(path: str) -> str | None:
    st = os.stat(path)
    return _codec_of(path, st.st_mtime_ns, st.st_size)


def stream_info(path: str) -> StreamInfo:
    """Codec, coded size and frame count (demux only), counted exactly as the PyAV decoder does."""
    import av

    from cleverward.engine.decode.pyav_decoder import probe

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream in file")
            ctx = container.streams.video[0].codec_context
            index = probe(container)
            if index is not None:
                num_frames = len(index.pts)
            else:  # no timestamps: PyAV decodes everything; the packet count is our best guess
                container.seek(0)
                num_frames = sum(1 for p in container.demux(video=0) if p.size)
            pix_fmt = ctx.format.name if ctx.format is not None else "yuv420p"
            return StreamInfo(ctx.codec.canonical_name, ctx.height, ctx.width, num_frames,
                              pix_fmt)
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:  # as PyAVDecoder.decode
        raise DecodeError(path, f"not a readable video ({type(exc).__name__}: {exc})") from exc


def _dali_reason(exc: Exception) -> str:
    """DALI's errors carry the pipeline-definition traceback; keep the line that says what broke."""
    text = str(exc)
    if "encountered:" in text:
        text = text.split("encountered:", 1)[1]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _build_pipeline(device: str, num_threads: int, batch_size: int = BATCH,
                    device_id: int | None = None):
    """One pipeline: per clip (bytes, frame indices, scaled size, crop window) -> uint8
    (N, h, w, 3), up to `batch_size` clips a run, PREFETCH runs in flight."""
    dali = _import_dali()
    if isinstance(dali, str):
        raise RuntimeError(dali)
    fn, types, Pipeline = dali
    pipe = Pipeline(
        batch_size=batch_size, num_threads=num_threads,
        device_id=(device_id or 0) if device == "mixed" else None,
        exec_async=True, exec_pipelined=True, prefetch_queue_depth=PREFETCH,
    )
    with pipe:
        encoded = fn.external_source(name="encoded", dtype=types.UINT8, ndim=1)  # (bytes,)
        frames = fn.external_source(name="frames", dtype=types.INT32, ndim=1)  # (N,)
        size = fn.external_source(name="size", dtype=types.FLOAT, ndim=1)  # (2,) scaled h, w
        anchor = fn.external_source(name="anchor", dtype=types.INT32, ndim=1)  # (2,) top, left
        shape = fn.external_source(name="shape", dtype=types.INT32, ndim=1)  # (2,) out h, w
        video = fn.decoders.video(encoded, device=device, frames=frames, pad_mode="none")
        # (N, H0, W0, 3) -> (N, sh, sw, 3): size is (h, w), the order of the H and W axes.
        video = fn.resize(video, size=size, interp_type=types.INTERP_LINEAR, antialias=True)
        # (N, sh, sw, 3) -> (N, out_h, out_w, 3): absolute pixel window, not normalised.
        video = fn.slice(
            video, anchor, shape, axis_names="HW", normalized_anchor=False, normalized_shape=False
        )
        pipe.set_outputs(video)
    pipe.build()
    return pipe


def _to_torch(out, device: str):
    """A DALI batch -> list of uint8 (N, H, W, 3): torch tensors on the GPU through DLPack for
    "mixed" (cloned on the device: DALI reuses its buffers; no host copy), numpy copies on CPU."""
    if device != "mixed":
        return [np.array(out[i]) for i in range(len(out))]
    import torch

    return [torch.from_dlpack(out[i]).clone() for i in range(len(out))]


class PipelineBuildError(RuntimeError):
    """DALI could not build a pipeline on this device (no CUDA driver, broken install)."""


class _PipelinePool:
    """Idle pipelines per device; a checked-out pipeline belongs to one thread until returned."""

    def __init__(self, num_threads: int) -> None:
        self.num_threads = num_threads
        self._idle: dict[str, list] = {}
        self._lock = threading.Lock()  # guards the idle lists only, never held while decoding

    @contextmanager
    def checkout(self, device: str, device_id: int | None = None) -> Iterator[object]:
        with self._lock:
            idle = self._idle.setdefault(device, [])
            pipe = idle.pop() if idle else None
        if pipe is None:
            try:
                pipe = _build_pipeline(device, self.num_threads, device_id=device_id)
            except RuntimeError as exc:
                raise PipelineBuildError(_dali_reason(exc)) from exc
        yield pipe  # if the body raises, the pipeline is dropped: DALI has invalidated it
        with self._lock:
            self._idle[device].append(pipe)

    def idle_count(self, device: str) -> int:
        with self._lock:
            return len(self._idle.get(device, []))


class DALIDecoder:
    """DALI's video decoder behind the same interface as PyAVDecoder, plus batched decoding.

    device: "mixed" (NVDEC on the run's GPU), "cpu", or None to pick "mixed" where CUDA is
    visible. num_threads: DALI worker threads per pipeline (one pipeline per concurrent caller).

    decode_many(paths, cfg): BATCH clips per pipeline run, PREFETCH runs in flight; on "mixed"
    the frames stay on the GPU (torch uint8 tensors via DLPack, no host copy). A clip DALI cannot
    take (a pixel format outside DALI_PIX_FMTS) or fails on is decoded by PyAV instead and
    counted (stats()); only a clip PyAV cannot decode either is a DecodeError.
    """

    name = "dali"

    def __init__(self, device: str | None = None, num_threads: int = 2,
                 gpu: int | None = None) -> None:
        if device not in (None, "cpu", "mixed"):
            raise ValueError(f"device: must be 'cpu', 'mixed' or None, got {device!r}")
        self._device = device
        self._gpu = gpu  # the run's GPU for "mixed"; None: environment.default_device's
        self._pool = _PipelinePool(num_threads)
        self._lock = threading.Lock()
        self._stats = {"clips": 0, "pipeline_runs": 0, "pyav_retries": 0}
        self.retry_reasons: list[str] = []  # the first 100, "path: why"

    @property
    def device(self) -> str:
        if self._device is None:
            from cleverward.engine.environment import cuda_available

            self._device = "mixed" if cuda_available() else "cpu"
        return self._device

    @property
    def device_id(self) -> int | None:
        """The run's GPU (environment.default_device: LOCAL_RANK's) for "mixed", else None."""
        if self.device != "mixed":
            return None
        if self._gpu is not None:
            return self._gpu
        from cleverward.engine.environment import default_device

        return default_device().index or 0

    @property
    def codecs(self) -> frozenset[str]:
        return GPU_CODECS if self.device == "mixed" else CPU_CODECS

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def can_decode(self, path: str) -> bool:
        """True if this backend decodes the file's codec and DALI imports (header probe, cached)."""
        if not Path(path).is_file() or codec_of(path) not in self.codecs:
            return False
        return not isinstance(_import_dali(), str)

    def decode(self, path: str, cfg: DecodeConfig) -> np.ndarray:
        """-> uint8 (N, H, W, 3) on the host, the frames PyAVDecoder samples. Raises DecodeError."""
        (out,) = self.decode_many([path], cfg)
        if isinstance(out, DecodeError):
            raise out
        return out if isinstance(out, np.ndarray) else out.cpu().numpy()

    def decode_many(self, paths: list[str], cfg: DecodeConfig) -> list:
        """-> per path: uint8 (N, H, W, 3) (a CUDA torch tensor on "mixed", else numpy), or the
        DecodeError that says why not. One bad clip never stops the others."""
        results: list = [None] * len(paths)
        jobs = []  # (index, external-source feeds of one clip)
        for i, path in enumerate(paths):
            try:
                inputs = self._prepare(path, cfg)
            except DecodeError as exc:
                results[i] = exc
                continue
            if isinstance(inputs, str):  # a stream DALI does not take: PyAV, counted
                results[i] = self._pyav(path, cfg, inputs)
            else:
                jobs.append((i, inputs))
        done: dict[int, object] = {}
        try:
            self._run_batched(jobs, done)
        except PipelineBuildError as exc:
            for i, _ in jobs:
                results[i] = DecodeError(paths[i], f"DALI {self.device} pipeline failed to build "
                                                   f"({exc})")
            return results
        except RuntimeError:
            # A clip of some batch failed and DALI dropped that pipeline: the clips not yet
            # returned are decoded one a run, so the failure is pinned to its clip.
            for i, inputs in jobs:
                if i not in done:
                    done[i] = self._one(paths[i], cfg, inputs)
        for i, frames in done.items():
            results[i] = frames
        return results

    def _prepare(self, path: str, cfg: DecodeConfig):
        """The clip's feeds, or (str) why DALI should not take it. Raises DecodeError."""
        if Path(path).stat().st_size == 0:
            raise DecodeError(path, "file is empty")
        info = stream_info(path)
        self._check_codec(path, info.codec)
        if info.num_frames < 1:
            raise DecodeError(path, "no frames could be decoded")
        dali = _import_dali()
        if isinstance(dali, str):
            raise DecodeError(path, f"--decoder dali: {dali}; use --decoder pyav or auto")
        if info.pix_fmt not in DALI_PIX_FMTS:
            return f"pixel format {info.pix_fmt} is not decoded by DALI ({self.device})"
        return self._inputs(path, info, cfg)

    def _run_batched(self, jobs: list, done: dict) -> None:
        """Batches of BATCH clips, PREFETCH runs in flight; results into `done` as they come.

        A pipelined DALI pipeline's first schedule_run() runs PREFETCH iterations at once, so
        it needs that many batches fed first: a pipeline's first call pads with repeats of its
        first batch (once per pipeline; their outputs are dropped)."""
        if not jobs:
            return
        queue = [jobs[i : i + BATCH] for i in range(0, len(jobs), BATCH)]
        with self._pool.checkout(self.device, self.device_id) as pipe:
            pending: deque = deque()  # batches in DALI's queue, in order; None: a padding run
            if not getattr(pipe, "cleverward_started", False):
                first, queue = queue[:PREFETCH], queue[PREFETCH:]
                fed = first + [None] * (PREFETCH - len(first))
                for batch in fed:
                    self._feed(pipe, batch or first[0])
                pipe.schedule_run()
                pipe.cleverward_started = True
                pending.extend(fed)
            for batch in queue:
                if len(pending) >= PREFETCH:  # frees a buffer for the next run
                    self._collect(pipe, pending.popleft(), done)
                self._feed(pipe, batch)
                pipe.schedule_run()
                pending.append(batch)
            while pending:
                self._collect(pipe, pending.popleft(), done)

    @staticmethod
    def _feed(pipe, batch: list) -> None:
        for name in batch[0][1]:
            pipe.feed_input(name, [inputs[name][0] for _, inputs in batch])

    def _collect(self, pipe, batch: list | None, done: dict) -> None:
        (out,) = pipe.outputs()
        if batch is None:
            return  # a padding run of the pipeline's first call
        frames = _to_torch(out, self.device)  # before the next outputs(): DALI reuses buffers
        self._count("pipeline_runs")
        self._count("clips", len(batch))
        for (i, _), clip in zip(batch, frames, strict=True):
            done[i] = clip

    def _one(self, path: str, cfg: DecodeConfig, inputs: dict):
        """One clip in a run of its own; a DALI failure is retried with PyAV (counted)."""
        done: dict = {}
        try:
            self._run_batched([(0, inputs)], done)
            return done[0]
        except PipelineBuildError as exc:
            return DecodeError(path, f"DALI {self.device} pipeline failed to build ({exc})")
        except RuntimeError as exc:
            return self._pyav(path, cfg, f"DALI: {_dali_reason(exc)}", corrupt=True)

    def _pyav(self, path: str, cfg: DecodeConfig, why: str, corrupt: bool = False):
        from cleverward.engine.decode.pyav_decoder import PyAVDecoder

        try:
            frames = PyAVDecoder().decode(path, cfg)
        except DecodeError as exc:
            what = "corrupt or undecodable stream" if corrupt else "not decodable"
            return DecodeError(path, f"{what} ({why}; PyAV: {exc.reason})")
        self._count("pyav_retries")
        with self._lock:
            if len(self.retry_reasons) < 100:
                self.retry_reasons.append(f"{path}: {why}")
        if self.device == "mixed":
            import torch

            return torch.from_numpy(frames).to(f"cuda:{self.device_id}")
        return frames

    def _check_codec(self, path: str, codec: str) -> None:
        if codec in self.codecs:
            return
        label = _CODEC_LABELS.get(codec, codec)
        if self.device == "cpu" and codec in GPU_CODECS:
            raise DecodeError(
                path, f"{label} needs DALI's GPU decoder (no CUDA device here); "
                      "use --decoder pyav or auto"
            )
        raise DecodeError(path, f"DALI cannot decode {label}; use --decoder pyav or auto")

    @staticmethod
    def _inputs(path: str, info: StreamInfo, cfg: DecodeConfig) -> dict[str, list[np.ndarray]]:
        """External-source feeds for one clip (one-element lists: a batch joins them)."""
        sh, sw = scaled_size(info.height, info.width, cfg.height, cfg.width)
        top, left = (sh - cfg.height) // 2, (sw - cfg.width) // 2  # as resize.center_crop
        return {
            "encoded": [np.fromfile(path, dtype=np.uint8)],
            "frames": [uniform_indices(info.num_frames, cfg.frames).astype(np.int32)],
            "size": [np.array([sh, sw], np.float32)],
            "anchor": [np.array([top, left], np.int32)],
            "shape": [np.array([cfg.height, cfg.width], np.int32)],
        }


_DECODERS: dict[tuple[str | None, int | None], DALIDecoder] = {}
_DECODER_LOCK = threading.Lock()


def get_decoder(device=None) -> DALIDecoder | None:
    """The shared DALI decoder for a run's device (a torch.device: "mixed" on its GPU for cuda,
    "cpu" for cpu; None: "mixed" where CUDA is visible), or None where nvidia-dali is not
    installed (checked without importing it; a broken install shows up as can_decode False / a
    DecodeError instead)."""
    if not dali_installed():
        return None
    key: tuple[str | None, int | None] = (None, None)
    if device is not None:
        key = ("mixed", device.index or 0) if device.type == "cuda" else ("cpu", None)
    with _DECODER_LOCK:
        if key not in _DECODERS:
            _DECODERS[key] = DALIDecoder(device=key[0], gpu=key[1])
        return _DECODERS[key]
