"""pix2pixHD over HTTP: a label map, with or without its instance map, equals translate."""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx
import numpy as np
import torch
from PIL import Image

from img2img.families.loading import load_inference_model
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.nn import create_generator
from img2img.serve.settings import ServeSettings
from tests.serve.conftest import start_server


def _maps(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(0, 5, (6, 8), dtype=np.uint8), 8, 0), 8, 1)
    instances = (labels.astype(np.uint16) * 1000 + np.arange(64, dtype=np.uint16)[None] // 16)
    (folder / "labels").mkdir()
    (folder / "insts").mkdir()
    Image.fromarray(labels).save(folder / "labels" / "city.png")
    cv2.imwrite(str(folder / "insts" / "city.png"), instances)  # 16-bit ids
    return folder / "labels" / "city.png", folder / "insts" / "city.png"


def test_label_and_instance_maps_equal_translate(tmp_path):
    torch.manual_seed(0)
    net = create_generator("global", in_channels=6, out_channels=3, ngf=4)
    weights = tmp_path / "hd.pth"
    torch.save(net.state_dict(), weights)
    label, instance = _maps(tmp_path)
    with_maps = translate_files(
        load_inference_model(weights, "cpu", instances=tmp_path / "insts"),
        plan_outputs(label, tmp_path / "with.png"), device="cpu")
    without = translate_files(load_inference_model(weights, "cpu"),
                              plan_outputs(label, tmp_path / "without.png"), device="cpu")
    assert with_maps.written == without.written == 1
    running = start_server(ServeSettings(models=(f"city={weights}",), device="cpu"))
    try:
        models = httpx.get(f"{running.url}/v1/models").json()["models"]
        assert [s["name"] for s in models[0]["streams"]] == ["input", "instance"]
        url = f"{running.url}/v1/translate"
        both = httpx.post(url, files={"image": ("city.png", label.read_bytes()),
                                      "instance": ("city.png", instance.read_bytes())},
                          timeout=60)
        assert both.status_code == 200, both.text
        assert both.content == (tmp_path / "with.png").read_bytes()
        alone = httpx.post(url, files={"image": ("city.png", label.read_bytes())}, timeout=60)
        assert alone.content == (tmp_path / "without.png").read_bytes()
        assert alone.content != both.content
        bad = httpx.post(url, files={"image": ("city.png", label.read_bytes()),
                                     "instance": ("i.png", b"not an image")}, timeout=60)
        assert bad.status_code == 400
        assert "upload 'city.png'" in bad.json()["error"]
    finally:
        running.stop()
