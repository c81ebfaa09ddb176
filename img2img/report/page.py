"""Build ``report.html`` from a run directory's files."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from html import escape
from pathlib import Path
from typing import Any

from img2img.atomic import atomic_write
from img2img.data.evaluation import ImageRef
from img2img.data.io import write_image
from img2img.data.ranges import to_model_range
from img2img.data.transforms import resize_bicubic
from img2img.engine.rundir import RunDir, open_run_dir
from img2img.engine.samples import make_grid
from img2img.report.charts import line_chart
from img2img.report.collect import RunContents, collect

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
#: the gallery's input | output | target strips, inside the run directory
GALLERY_DIR = "report_files"
#: longest side of a gallery strip's cells
GALLERY_SIDE = 256
PAIRED = ("L1", "PSNR", "SSIM", "LPIPS")

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px 48px;
color:#222}
h1{font-size:22px;margin:20px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid
#ddd}h3{font-size:15px;margin:16px 0 6px}.muted{color:#666}table{border-collapse:collapse}
td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}th{font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;flex-wrap:wrap;
gap:8px 28px}svg.chart{background:#fff;font-size:10px}svg .title{font-size:12px;font-weight:600}
svg .frame{fill:none;stroke:#bbb}svg .grid{stroke:#eee}img{max-width:100%;
image-rendering:pixelated}.gallery td{padding-bottom:10px}details{margin:6px 0}
code{font-size:12px}
"""

PICKER_SCRIPT = """
(function(){var s=document.getElementById('sample-step');if(!s)return;
var steps=JSON.parse(s.dataset.steps),srcs=JSON.parse(s.dataset.srcs);
var img=document.getElementById('sample-image'),label=document.getElementById('sample-label');
s.addEventListener('input',function(){var i=+s.value;img.src=srcs[i];
label.textContent='step '+steps[i];});})();
"""


def write_report(run_dir: str | os.PathLike, *, gallery: int = 24) -> Path:
    """Write ``report.html`` (and the gallery strips) into the run directory; return its path.

    Args:
        run_dir: a run directory made by ``img2img train``.
        gallery: at most this many evaluated images per phase in the gallery.
    """
    run = open_run_dir(run_dir)
    contents = collect(run)
    html = build_page(contents, gallery)
    path = run.path / REPORT_FILE
    atomic_write(path, lambda f: f.write(html), mode="w")
    log.info("report written: %s", path)
    return path


def build_page(contents: RunContents, gallery: int) -> str:
    """The report page: results first (evaluation table, curves, the latest sample grid,
    the gallery), the configuration folded at the end."""
    config = contents.config
    sections = [_header(contents)]
    if contents.evaluations:
        sections.append(_section("Evaluation", "".join(
            _evaluation(phase, record) for phase, record in contents.evaluations)))
    sections += [_section("Training", _curves(contents)),
                 _section("Samples", _samples(contents))]
    if contents.evaluations:
        sections.append(_section("Gallery", "".join(
            _gallery(contents.run, phase, record, gallery)
            for phase, record in contents.evaluations)))
    sections.append(_section("Configuration", "<details><summary>model, data and training "
                             f"options</summary>{_config_table(config)}</details>"))
    title = escape(f"{config.get('name', contents.run.path.name)} - img2img report")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{STYLE}</style></head><body>"
            + "".join(sections) + f"<script>{PICKER_SCRIPT}</script></body></html>\n")


def _section(title: str, body: str) -> str:
    return f'<section id="{escape(title.lower())}"><h2>{escape(title)}</h2>{body}</section>'


def _header(contents: RunContents) -> str:
    config = contents.config
    model = config.get("model", {})
    last = contents.records[-1] if contents.records else {}
    facts = [config.get("family", "?"),
             ", ".join(f"{k} {model[k]}" for k in ("netG", "netD", "ngf", "ndf", "norm")
                       if k in model)]
    if last:
        facts.append(f"step {last['step']}, epoch {last.get('epoch', '?')}")
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    return (f"<h1>{escape(str(config.get('name', contents.run.path.name)))}</h1>"
            f'<p class="muted">{escape(" · ".join(f for f in facts if f))}<br>'
            f"run directory <code>{escape(str(contents.run.path))}</code>, report of {stamp}</p>")


def _config_table(config: dict[str, Any]) -> str:
    tables = []
    for section in ("model", "data", "train"):
        rows = "".join(f"<tr><td>{escape(key)}</td><td><code>{escape(json.dumps(value))}</code>"
                       "</td></tr>" for key, value in config.get(section, {}).items())
        tables.append(f"<table><tr><th colspan=2>{section}</th></tr>{rows}</table>")
    return f'<div class="charts">{"".join(tables)}</div>'


def _curves(contents: RunContents) -> str:
    if not contents.records:
        return '<p class="muted">no metrics logged yet</p>'
    charts = [line_chart({name: contents.series(name)}, title=name)
              for name in contents.losses]
    charts.append(line_chart({"lr": contents.series("lr")}, title="learning rate"))
    charts.append(line_chart({"images/s": contents.series("images_per_s")},
                             title="throughput (images/s)"))
    return f'<div class="charts">{"".join(charts)}</div>'


def _relative(path: Path, run: RunDir) -> str:
    return path.relative_to(run.path).as_posix()


def _samples(contents: RunContents) -> str:
    samples = contents.samples
    if not samples:
        return '<p class="muted">no sample grids yet</p>'
    steps = [step for step, _ in samples]
    srcs = [_relative(path, contents.run) for _, path in samples]
    last = len(samples) - 1
    picker = ""
    if len(samples) > 1:
        picker = (f'<input type="range" id="sample-step" min="0" max="{last}" value="{last}" '
                  f'data-steps="{escape(json.dumps(steps))}" '
                  f'data-srcs="{escape(json.dumps(srcs))}" style="width:60%"> ')
    return (f'<p class="muted">input | output | target, from the held-out split when the data '
            f"has one; {len(samples)} grids</p>{picker}"
            f'<span id="sample-label">step {steps[-1]}</span><br>'
            f'<img id="sample-image" src="{escape(srcs[-1])}" alt="sample grid">')


def _number(name: str, value: Any) -> str:
    if not isinstance(value, (int, float)):
        return escape(str(value))
    return f"{value:.2f}" if name in ("PSNR", "FID") else f"{value:.4f}"


def _evaluation(phase: str, record: dict[str, Any]) -> str:
    metrics = record.get("metrics", {})
    rows = "".join(f"<tr><td>{escape(k)}</td><td class=num>{_number(k, v)}</td></tr>"
                   for k, v in metrics.items())
    counts = record.get("counts", {})
    model = record.get("model", {})
    facts = [f"{counts.get('pairs', 0)} pairs", f"{counts.get('real', 0)} real",
             f"{counts.get('generated', 0)} generated",
             f"model step {model.get('step')}", f"test mode: {model.get('test_mode')}"]
    protocol = escape(json.dumps(record.get("protocol", {}), indent=2))
    skipped = "".join(f"<li>{escape(k)} left out: {escape(v)}</li>"
                      for k, v in record.get("skipped", {}).items())
    return (f"<h3>{escape(phase)}</h3><p class=muted>{escape(record.get('data', ''))}<br>"
            f"{escape(', '.join(facts))}</p><table><tr><th>metric</th><th>value</th></tr>"
            f"{rows}</table>{f'<ul>{skipped}</ul>' if skipped else ''}"
            f"<details><summary>protocol</summary><pre>{protocol}</pre></details>")


def _gallery(run: RunDir, phase: str, record: dict[str, Any], limit: int) -> str:
    folder = run.path / GALLERY_DIR / phase
    if folder.exists():
        shutil.rmtree(folder)  # strips of an earlier evaluation
    rows = []
    for item in record.get("per_image", [])[:limit]:
        try:
            strip = _strip(item, folder)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("gallery: %s left out (%s)", item.get("key"), exc)
            continue
        scores = ", ".join(f"{m} {_number(m, item[m])}" for m in PAIRED if m in item)
        rows.append(f'<tr><td><img src="{escape(_relative(strip, run))}" '
                    f'alt="{escape(item["key"])}"></td><td>{escape(item["key"])}<br>'
                    f'<span class="muted">{scores}</span></td></tr>')
    if not rows:
        return f"<h3>{escape(phase)}</h3><p class=muted>no paired images to show</p>"
    shown = len(rows)
    total = len(record.get("per_image", []))
    return (f"<h3>{escape(phase)}</h3><p class=muted>input | output | target; {shown} of "
            f"{total} images</p><table class=gallery>{''.join(rows)}</table>")


def _strip(item: dict[str, Any], folder: Path) -> Path:
    """Write one input | output | target strip for a gallery row."""
    output = ImageRef(Path(item["output"])).read(3)
    size = tuple(output.shape[-2:])
    cells = [ImageRef(Path(item["input"]), item.get("input_half")).read(3), output,
             ImageRef(Path(item["target"]), item.get("target_half")).read(3)]
    scale = min(1.0, GALLERY_SIDE / max(size))
    small = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    columns = [to_model_range(resize_bicubic(c, small))[None] for c in cells]
    path = folder / (Path(item["key"]).with_suffix("").as_posix() + ".png")
    write_image(path, make_grid(columns, max_rows=1))
    return path

