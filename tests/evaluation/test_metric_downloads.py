"""Metric weights fetched on first use through the download module (local server as mirror)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.evaluation.weights import alexnet_weights, inception_weights, load_metric_weights

runner = CliRunner()


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(real / f"{name}.png")
        Image.fromarray(255 - pixels).save(fake / f"{name}.png")
    return real, fake


def _serve(mirror, weights, metric_weights: Path) -> None:
    """Serve the random weights file under the registry URL's path (a hard link: no copy)."""
    target = mirror.root / "mirror" / urlsplit(weights.url).path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(metric_weights / weights.name, target)


def test_registry_matches_the_libraries_urls():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    from torchvision.models import AlexNet_Weights

    assert set(load_metric_weights()) == {"alexnet", "inception"}
    assert alexnet_weights().url == AlexNet_Weights.IMAGENET1K_V1.url
    assert inception_weights().url == URL_INCEPTION_V3
    assert alexnet_weights().used_by == ("LPIPS",) and inception_weights().metrics == "FID and KID"


def test_lpips_weights_download_on_first_use_and_resume(folders, metric_weights, mirror,
                                                        empty_hub, tmp_path):
    _serve(mirror, alexnet_weights(), metric_weights)
    served = "/mirror" + urlsplit(alexnet_weights().url).path
    mirror.drop_after[served] = 5_000_000  # the first transfer breaks off
    store = tmp_path / "store"
    args = ["evaluate", *map(str, folders), "--metrics", "l1,lpips", "--weights-dir",
            str(store), "--device", "cpu", "--json"]
    broken = runner.invoke(app, args)  # offline halfway: L1 still computed, LPIPS left out
    assert broken.exit_code == 0, broken.output
    assert set(json.loads(broken.stdout)["skipped"]) == {"LPIPS"}
    assert "ended after 5000000 of" in json.loads(broken.stdout)["skipped"]["LPIPS"]

    result = runner.invoke(app, args)  # not a terminal: goes ahead, saying what and how big
    assert result.exit_code == 0, result.output
    assert f"downloading {alexnet_weights().name}: 244.4 MB from {mirror.url}/mirror/" in \
        _words(result.stderr)
    assert mirror.requests[-1].range == "bytes=5000000-"  # resumed
    downloaded = store / alexnet_weights().name
    assert downloaded.stat().st_size == (metric_weights / alexnet_weights().name).stat().st_size
    assert (store / f"{alexnet_weights().name}.sha256").is_file()
    record = json.loads(result.stdout)
    assert set(record["metrics"]) == {"L1", "LPIPS"} and record["skipped"] == {}
    assert record["protocol"]["paired"]["LPIPS"]["weights"] == str(downloaded)
    asked = len(mirror.requests)
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and len(mirror.requests) == asked  # used from disk now
    assert "downloading" not in again.stderr


def test_a_terminal_is_asked_first_with_the_size(folders, metric_weights, mirror, empty_hub,
                                                 tmp_path, monkeypatch):
    monkeypatch.setattr("img2img.cli.downloads.interactive", lambda: True)
    _serve(mirror, inception_weights(), metric_weights)
    store = tmp_path / "store"
    args = ["evaluate", *map(str, folders), "--metrics", "l1,fid", "--weights-dir", str(store),
            "--device", "cpu"]
    declined = runner.invoke(app, args, input="n\n")
    assert declined.exit_code == 0, declined.output
    size = (metric_weights / inception_weights().name).stat().st_size  # from a HEAD request
    text = _words(declined.output)
    assert "torch-fidelity port), needed for FID and KID" in text
    assert f"({size / 1e6:.1f} MB) is not here" in text
    assert "FID left out" in text and "declined" in text and "L1" in text
    assert [r.method for r in mirror.requests] == ["HEAD"] and not store.exists()
