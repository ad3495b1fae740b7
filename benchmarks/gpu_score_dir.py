"""gpu-check part (c): score-dir end to end on the bench corpus, PyAV decoding on every host core
feeding the GPU, against the decode-alone limit of the same cores.

    python benchmarks/gpu_score_dir.py --prepare gpu-bundle/bench_prompts.json   # here (MiniLM)
    (gpu_check.py calls run() on the GPU machine)

The GPU machine has no MiniLM package (83 MB does not fit the 64 MiB brought per run), so the
prompts' text vectors are embedded here beforehand (`make gpu-bundle` runs --prepare) and handed
to score-dir as its text cache there: every other stage - decode, the frame encoder, ConSE, the
head - runs for real on the GPU. The MobileNetV2 graph comes from the bundle too
($CLEVERWARD_MOBILENET_ONNX).

Figures, each over the same clips (the bench corpus, each clip copied `repeats` times under its
own name so the run is long enough to time; no embedding cache):
- end to end: clips scored per second of `score_directory` (decode workers = host cores);
- decode alone: clips per second of the same decode pool with the same workers, nothing else;
- GPU busy: the mean of NVML's utilisation samples (the fraction of each sample period in which
  a kernel ran) over the end-to-end run, read through pynvml or `nvidia-smi -lms`; "not measured"
  when neither is present.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_FILE = "bench_prompts.json"
PREPARED_PROMPTS = 64  # clip_prompt(0, i) for i below this: every bench corpus clip's prompt
CORPUS = {"480p": 12, "720p": 6}  # benchmarks/suite.py's FULL_CORPUS


def prepare(out: Path) -> Path:
    """The bench prompts' MiniLM vectors as JSON (no pickle): {"fingerprint", "prompts",
    "vectors"}. Run where the MiniLM package is installed."""
    from cleverward.benchmarks.corpus import clip_prompt
    from cleverward.engine.encoders.minilm import MiniLMTextEncoder

    prompts = sorted({clip_prompt(0, i) for i in range(PREPARED_PROMPTS)})
    encoder = MiniLMTextEncoder()
    vectors = encoder.encode(prompts)  # (P, 384)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"fingerprint": encoder.fingerprint(), "prompts": prompts,
                               "vectors": [[float(x) for x in row] for row in vectors]}))
    return out


class PreparedTexts:
    """score-dir's cache for a run whose prompts were embedded elsewhere: text vectors from the
    prepared file, no video vectors kept (every clip is decoded and encoded)."""

    def __init__(self, path: Path) -> None:
        import numpy as np

        data = json.loads(path.read_text())
        self.table = {p: np.asarray(v, np.float32)
                      for p, v in zip(data["prompts"], data["vectors"], strict=True)}
        self.warnings: list[str] = []

    def get_texts(self, texts):
        return [self.table.get(t) for t in texts]

    def put_texts(self, texts, vectors) -> None:
        pass

    def get_video(self, path):
        return None

    def put_video(self, path, vector) -> None:
        pass

    def close(self) -> None:
        pass


class BusySampler:
    """NVML utilisation samples of one GPU while running (pynvml, else nvidia-smi)."""

    def __init__(self, device) -> None:
        import torch

        self.samples: list[float] = []
        self.source = "not measured (neither pynvml nor nvidia-smi is present)"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._nvml = None
        if device.type != "cuda":
            self.source = f"not measured (the run is on {device})"
            return
        props = torch.cuda.get_device_properties(device)
        uuid = getattr(props, "uuid", None)
        self._id = f"GPU-{uuid}" if uuid is not None else str(device.index or 0)
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = (pynvml.nvmlDeviceGetHandleByUUID(self._id) if uuid is not None
                            else pynvml.nvmlDeviceGetHandleByIndex(device.index or 0))
            self._nvml = pynvml
            self.source = "pynvml nvmlDeviceGetUtilizationRates, every 50 ms"
        except Exception:  # noqa: BLE001 - absent or no driver access: try nvidia-smi
            self._nvml = None
            if shutil.which("nvidia-smi"):
                self.source = "nvidia-smi --query-gpu=utilization.gpu -lms 100"

    def __enter__(self) -> BusySampler:
        if self._nvml is not None:
            self._thread = threading.Thread(target=self._poll_nvml, daemon=True)
        elif "nvidia-smi" in self.source:
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-i", self._id, "-lms", "100"], stdout=subprocess.PIPE, text=True)
            self._thread = threading.Thread(target=self._read_smi, daemon=True)
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll_nvml(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)

    def _read_smi(self) -> None:
        for line in self._proc.stdout:
            if line.strip().isdigit():
                self.samples.append(float(line))

    def fraction(self) -> float | None:
        return round(sum(self.samples) / len(self.samples) / 100, 3) if self.samples else None


def _corpus(work: Path, repeats: int):
    """-> (folder, prompts file, clip count): the bench corpus, each clip `repeats` times."""
    from cleverward.benchmarks.suite import make_bench_corpus

    _, items = make_bench_corpus(CORPUS, work / "made")
    folder = work / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in range(repeats):
        for profile, video, prompt in items:
            name = f"{profile}_{video.stem}_r{r}.mp4"
            if not (folder / name).exists():
                shutil.copyfile(video, folder / name)
            lines.append(json.dumps({"video": name, "prompt": prompt}))
    prompts = work / "prompts.jsonl"
    prompts.write_text("\n".join(lines) + "\n")
    return folder, prompts, len(lines)


def _decode_alone(folder: Path, decode_cfg, workers: int) -> float:
    """Clips/s of the decode pool alone over the folder (the frames are dropped)."""
    from cleverward.engine.decode_pool import decode_stream

    items = [(p.name, str(p)) for p in sorted(folder.glob("*.mp4"))]
    start = time.perf_counter()
    done = sum(d.frames is not None for d in decode_stream(items, decode_cfg, workers=workers))
    return done / (time.perf_counter() - start)


def run(bundle: Path | None, repeats: int = 8, work: Path | None = None,
        device: str = "cuda") -> dict | str:
    """Part (c) on this machine's GPU -> figures, or (str) why it was skipped. (device: only
    for trying the script on a CPU machine; the report's figures are the GPU's.)"""
    import importlib.util

    if importlib.util.find_spec("av") is None:
        return "skipped: PyAV is absent (bring its cp312 wheel with `make gpu-bundle`)"
    prepared = bundle / PROMPTS_FILE if bundle is not None else None
    if prepared is None or not prepared.is_file():
        return (f"skipped: no prepared prompt vectors ({PROMPTS_FILE} in the bundle; "
                "`make gpu-bundle` writes it where MiniLM is installed)")
    onnx = bundle / "mobilenetv2-7.onnx"
    if onnx.is_file():
        os.environ.setdefault("CLEVERWARD_MOBILENET_ONNX", str(onnx))
    import tempfile

    import torch

    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.model import load_for_run
    from cleverward.engine.scoring import score_directory

    work = Path(work or tempfile.mkdtemp(prefix="gpu-score-dir-"))
    folder, prompts, clips = _corpus(work, repeats)
    workers = os.cpu_count() or 1
    model = load_for_run("default", backend="auto", device=device)
    texts = PreparedTexts(prepared)

    def score(videos: Path, prompt_file: Path, out: str):
        cfg = ScoreConfig(videos_dir=str(videos), prompts_file=str(prompt_file),
                          out=str(work / out), decoder="pyav", device=str(model.device),
                          workers=workers, batch_size=32, resume=False, use_cache=False)
        return score_directory(cfg, model=model, cache=texts)

    warm = work / "warm"  # Triton autotuning, cuDNN plans, the decoders' first open
    warm.mkdir(exist_ok=True)
    first = sorted(folder.glob("*.mp4"))[:4]
    for p in first:
        shutil.copyfile(p, warm / p.name)
    names = {p.name for p in first}
    (work / "warm.jsonl").write_text("".join(
        line + "\n" for line in prompts.read_text().splitlines()
        if json.loads(line)["video"] in names))
    score(warm, work / "warm.jsonl", "warm.jsonl.out")
    decode_cfg = model.decode_config(8, "pyav")
    limit = _decode_alone(folder, decode_cfg, workers)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    sync()
    with BusySampler(model.device) as busy:
        start = time.perf_counter()
        summary = score(folder, prompts, "scores.jsonl")
        sync()
        seconds = time.perf_counter() - start
    e2e = summary.decoded / seconds
    return {"clips": clips, "corpus": f"bench corpus {CORPUS} x {repeats} copies, H.264",
            "workers": workers, "device": str(model.device), "backend": model.backend,
            "scored_rows": summary.scored, "failed_rows": summary.failed,
            "end_to_end_clips_per_s": round(e2e, 1),
            "decode_alone_clips_per_s": round(limit, 1),
            "end_to_end_over_decode_alone": round(e2e / limit, 3),
            "gpu_busy_fraction": busy.fraction(), "gpu_busy_source": busy.source,
            "gpu_busy_samples": len(busy.samples), "seconds": round(seconds, 2),
            "timings": {k: round(v, 3) for k, v in summary.timings.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", type=Path, required=True,
                        help="write the bench prompts' MiniLM vectors here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    print(prepare(args.prepare))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
