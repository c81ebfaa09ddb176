"""The run report: its content, and the page as a browser shows it."""

from __future__ import annotations

import json
import math
import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.report import GALLERY_DIR, REPORT_FILE, write_report
from img2img.report.charts import line_chart, nice_ticks
from img2img.report.observer import ReportObserver
from tests.chromium import find_chromium, load_page

runner = CliRunner()


@pytest.fixture(scope="module")
def evaluated_run(trained_run):
    """The tiny run, evaluated on 3 test images with the paired metrics that need no weights."""
    result = runner.invoke(app, ["evaluate", "--model", str(trained_run), "--limit", "3",
                                 "--metrics", "l1,psnr,ssim", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return trained_run


def test_report_shows_the_run(evaluated_run):
    result = runner.invoke(app, ["report", str(evaluated_run), "--gallery", "2"])
    assert result.exit_code == 0, result.output
    html = (evaluated_run / REPORT_FILE).read_text()
    records = [json.loads(line) for line in (evaluated_run / "metrics.jsonl").open()]
    for loss in ("G_GAN", "G_L1", "D_real", "D_fake"):  # one chart per loss
        assert f'aria-label="{loss}"' in html
    assert html.count("<polyline") >= 6 and "learning rate" in html and "images/s" in html
    assert 'id="sample-step"' in html and "samples/step_00000004.png" in html
    assert "unet_128" in html and "<h3>test</h3>" in html and "SSIM" in html
    strips = sorted((evaluated_run / GALLERY_DIR / "test").glob("*.png"))
    assert [p.name for p in strips] == ["000.png", "001.png"]  # --gallery 2 of 3
    with Image.open(strips[0]) as strip:  # input | output | target at the output's size:
        assert strip.size == (3 * (128 + 4), 128 + 4)  # the run's 128 px crops, plus padding
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(not s.startswith(("http:", "https:", "//", "/")) for s in sources)
    assert all((evaluated_run / s).is_file() for s in sources)
    assert len(records) == 4


def test_report_puts_results_first_and_folds_the_configuration(evaluated_run):
    html = (write_report(evaluated_run)).read_text()
    order = [html.index(f'<section id="{name}">') for name in
             ("evaluation", "training", "samples", "gallery", "configuration")]
    assert order == sorted(order), order
    assert html.index("<h1>") < order[0]
    configuration = html[order[-1]:]
    assert configuration.index("<details>") < configuration.index("unet_128")
    assert "</details></section>" in configuration


@pytest.mark.skipif(find_chromium() is None,
                    reason="no Chromium: install Debian's 'chromium' package (.ci/run does) to "
                           "check the report in a real browser")
def test_report_in_headless_chromium(evaluated_run, tmp_path):
    path = write_report(evaluated_run)
    page = load_page(find_chromium(), path)
    assert page.errors == []
    assert len(page.images) == 1 + 3  # the sample grid and three gallery strips
    assert all(image["complete"] and image["naturalWidth"] > 0 for image in page.images)
    shot = tmp_path / "report.png"
    shot.write_bytes(page.screenshot)
    with Image.open(shot) as image:
        assert image.width >= 800 and image.height > 1000
        assert sum(n > 0 for n in image.convert("L").histogram()) > 10  # not a blank page


def test_report_observer_refreshes_every_n_steps(trained_run, tmp_path, monkeypatch):
    written = []
    monkeypatch.setattr("img2img.report.observer.write_report", written.append)
    observer = ReportObserver(trained_run, every=3)
    for step in range(1, 8):
        observer.on_step(step)
    observer.on_end(7)
    assert len(written) == 3  # steps 3 and 6, and the end


def test_charts():
    assert nice_ticks(0, 1) == [0, 0.5, 1.0] and nice_ticks(0, 1, 6) == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert nice_ticks(0.00019, 0.00021, 3) == [0.00019, 0.0002, 0.00021]
    svg = line_chart({"a": [(0, 1.0), (1, math.nan), (2, 2.0), (3, 3.0)]}, title="t")
    assert svg.count("<circle") == 1 and svg.count("<polyline") == 1  # the gap splits it
    assert "no data" in line_chart({"a": []}, title="empty")
