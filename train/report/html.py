"""`cleverward report`: one self-contained HTML file from score files (no server, no network).

Sections: ratings with intervals, the win-rate matrix, mean score per metric and generator,
score histograms, eval results (when given), model agreement, then one collapsed <details> per
prompt with its ranked clips and a keyframe strip per clip. Closed <details> are not rendered
and their images (loading="lazy") not decoded until opened, so a corpus of thousands of clips
opens fast; the file grows by ~7-10 kB per clip (the strip, base64). A Content-Security-Policy
forbids every fetch but data: images, so the page cannot reach a network even by mistake.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from cleverward.train.compare.analysis import CompareConfig, analyse
from cleverward.train.compare.rows import ScoredClip, ScoreTable
from cleverward.train.compare.winrate import WinRate, win_matrix
from cleverward.train.report import plots
from cleverward.train.report.evals import read_eval
from cleverward.train.report.thumbs import Strip, ThumbConfig, strips

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'")
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap}.scroll{overflow-x:auto;max-width:100%}th{background:#f6f6f6}td.t,th.t{text-align:left}
details.prompt{margin:2px 0;border:1px solid #e4e4e4;border-radius:4px;padding:2px 8px}
details.prompt summary{cursor:pointer}.muted{color:#777}.err{color:#b00}
img.strip{display:block}.svg svg{max-width:100%;height:auto}
.row{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
"""
FILTER_JS = """
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('details.prompt').forEach(function (d) {
    d.hidden = q !== '' && d.dataset.prompt.indexOf(q) < 0;
  });
});
"""


@dataclass(frozen=True)
class ReportConfig:
    compare: CompareConfig
    out: str
    videos: str | None = None
    eval_file: str | None = None
    thumbs: ThumbConfig = field(default_factory=ThumbConfig)
    workers: int = 2
    title: str = "cleverward: generator comparison"

    def __post_init__(self) -> None:
        if not str(self.out).endswith((".html", ".htm")):
            raise ValueError(f"ReportConfig.out must end in .html, got {self.out!r}")
        if self.videos is not None and not Path(self.videos).is_dir():
            raise ValueError(f"ReportConfig.videos: {self.videos}: not a folder")
        if self.workers < 1:
            raise ValueError(f"ReportConfig.workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class ReportSummary:
    out: Path
    bytes: int
    prompts: int
    clips: int
    thumbnails: int
    no_preview: int


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first `left` columns are text (left-aligned), cells already escaped."""
    def cells(tag, values):
        return "".join(f"<{tag}{' class=t' if i < left else ''}>{v}</{tag}>"
                       for i, v in enumerate(values))

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<div class=scroll><table><tr>{cells('th', header)}</tr>{body}</table></div>"


def _ci(r: dict, digits: int = 2, sign: str = "+") -> str:
    if not math.isfinite(r["value"]):
        return "-"  # undefined: no game on this metric (every comparison a dropped tie)
    return (f"{r['value']:{sign}.{digits}f} [{r['ci_low']:{sign}.{digits}f}, "
            f"{r['ci_high']:{sign}.{digits}f}]")


def _ratings_section(result: dict) -> str:
    """One row per metric (and Elo), generators as columns in their overall order."""
    metrics, gens = result["metrics"], result["generators"]
    order = [r["generator"] for r in result["bradley_terry"]["overall"]]
    rows = []
    for m in metrics:
        by = {r["generator"]: r for r in result["bradley_terry"][m]}
        rows.append([plots.SHORT.get(m, m)] + [f"({by[g]['rank']}) {_ci(by[g])}" for g in order])
    elo = {r["generator"]: r for r in result["elo"]}
    rows.append(["Elo, overall"] + [f"({elo[g]['rank']}) {_ci(elo[g], 0, '')}" for g in order])
    level = round(100 * result["level"])
    return (f"<h2 id=ratings>Ratings</h2><p class=muted>Bradley-Terry theta (log-odds units, "
            f"mean 0; rank in brackets) per metric, and Elo, with {level}% intervals from "
            f"{result['bootstrap']} bootstrap resamples of the prompts (seed {result['seed']})."
            f"</p><div class=row>{_table(['metric'] + [escape(g) for g in order], rows)}"
            f"<div class=svg>{plots.ratings(result['bradley_terry'], gens, metrics)}</div></div>")


def _winrate_section(result: dict) -> str:
    gens = result["generators"]
    rates = [WinRate(**r) for r in result["win_rates"]]
    matrix = win_matrix(rates, gens, "overall")  # (G, G)
    by = {(r.a, r.b): r for r in rates if r.metric == "overall"}
    rows = [[escape(a)] + ["" if a == b else f"{by[a, b].rate:.2f} ({by[a, b].n})"
                           if by[a, b].rate is not None else "-" for b in gens] for a in gens]
    return (f"<h2 id=winrates>Win rates</h2><p class=muted>Overall score, row beats column, over "
            f"the prompts both answered (count in brackets); ties: {escape(result['ties'])}.</p>"
            f"<div class=row>{_table([''] + [escape(g) for g in gens], rows)}"
            f"<div class=svg>{plots.win_matrix(matrix, gens)}</div></div>")


def _eval_section(records: list[dict]) -> str:
    def num(v):
        return "-" if v is None else f"{v:.3f}"

    rows = [[escape(str(r["dataset"])), escape(str(r["dimension"])), escape(str(r["metric"])),
             escape(str(r["convention"])), num(r["value"]),
             f"[{num(r['ci_low'])}, {num(r['ci_high'])}]", str(r["n"])] for r in records]
    header = ["dataset", "dimension", "metric", "convention", "value", "interval", "n"]
    return f"<h2 id=eval>Eval results</h2>{_table(header, rows, left=4)}"


def _agreement_section(rows: list[dict]) -> str:
    def num(v):
        return "-" if v is None else f"{v:.3f}"

    body = [[escape(r["model_a"]), escape(r["model_b"]), escape(r["metric"]), str(r["clips"]),
             num(r["kendall_tau"]), f"{num(r['pairwise_agreement'])} ({r['agree']}/{r['pairs']})"]
            for r in rows]
    return ("<h2 id=agreement>Agreement between reward models</h2>"
            + _table(["model A", "model B", "metric", "clips", "Kendall tau-b",
                      "same-prompt pairs ordered alike"], body, left=3))


def _strip_cell(strip: Strip | None) -> str:
    if strip is None:
        return "<span class=muted>no --videos</span>"
    if strip.uri is None:
        return f"<span class=err>no preview: {escape(strip.error or '')}</span>"
    return (f'<img class=strip loading="lazy" decoding="async" width={strip.width} '
            f'height={strip.height} alt="keyframes" src="{strip.uri}">')


def _prompt_block(prompt: str, clips: list[ScoredClip], metrics: list[str],
                  thumbs: dict[str, Strip]) -> str:
    ranked = sorted(clips, key=lambda c: -c.scores["overall"])
    rows = []
    for rank, c in enumerate(ranked, start=1):
        dims = [f"{c.scores[m]:+.3f}" if m in c.scores else "-" for m in metrics]
        rows.append([str(rank), _strip_cell(thumbs.get(c.video)), escape(c.generator), *dims,
                     escape(c.video)])
    header = ["#", "keyframes", "generator", *[plots.SHORT.get(m, m) for m in metrics], "video"]
    best = escape(ranked[0].generator)
    key = escape(prompt.lower(), quote=True)
    return (f'<details class=prompt data-prompt="{key}"><summary>{escape(prompt)} '
            f'<span class=muted>({len(ranked)} clips; best: {best})</span></summary>'
            f"{_table(header, rows, left=3)}</details>")


def _prompts_section(table: ScoreTable, clips: list[ScoredClip], thumbs: dict) -> str:
    by_prompt: dict[str, list[ScoredClip]] = defaultdict(list)
    for c in clips:
        by_prompt[c.prompt].append(c)
    blocks = "".join(_prompt_block(p, by_prompt[p], table.metrics, thumbs)
                     for p in table.prompts)
    return (f"<h2 id=prompts>Per prompt ({len(table.prompts)})</h2>"
            '<p><input id=filter type=search placeholder="filter prompts" size=40> '
            "<span class=muted>click a prompt to see its clips ranked by overall score</span>"
            f"</p>{blocks}")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang=en><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<meta name=viewport content='width=device-width'><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}<script>{FILTER_JS}</script></body></html>")


def _write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then replace it: an existing report is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_report(cfg: ReportConfig, progress=None) -> ReportSummary:
    """progress: one call per keyframe strip made (engine/progress.py)."""
    loaded, table, result = analyse(cfg.compare)
    mine = [c for c in loaded.clips if c.model == result["model"]]
    thumbs = {} if cfg.videos is None else strips(
        cfg.videos, list(dict.fromkeys(c.video for c in mine)), cfg.thumbs, cfg.workers,
        progress)
    records = read_eval(cfg.eval_file) if cfg.eval_file else []
    head = (f"<h1>{escape(cfg.title)}</h1><p>Model <b>{escape(result['model'])}</b>: "
            f"{len(result['generators'])} generators ({escape(', '.join(result['generators']))}),"
            f" {result['prompts']} prompts, {result['clips']} clips; {result['failed_rows']} "
            f"failed rows left out.</p>")
    sections = [head, _ratings_section(result), _winrate_section(result),
                "<h2 id=dimensions>Mean score per metric, and score histograms</h2>"
                "<div class=row><div class=svg>"
                + plots.dimension_bars(table.values, table.generators, table.metrics)
                + "</div><div class=svg>"
                + plots.histograms(table.values, table.generators, table.metrics)
                + "</div></div>"]
    if records:
        sections.append(_eval_section(records))
    if result["agreement"]:
        sections.append(_agreement_section(result["agreement"]))
    sections.append(_prompts_section(table, mine, thumbs))
    text = _page(cfg.title, "".join(sections))
    out = Path(cfg.out)
    _write_atomic(out, text)
    made = sum(s.uri is not None for s in thumbs.values())
    return ReportSummary(out, len(text.encode()), len(table.prompts), len(mine), made,
                         len(thumbs) - made)

