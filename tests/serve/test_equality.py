"""POST /v1/translate answers exactly what ``img2img translate`` writes, batched or not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from img2img.families.loading import load_inference_model
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from tests.serve.conftest import photo

#: sizes of the inputs: several of one padded size (they share batches), one over the pixel
#: budget of the server (translated in tiles), one gray and one with alpha (converted to RGB)
INPUTS = [("a.png", 64, 80, "RGB"), ("b.png", 64, 80, "RGB"), ("c.jpg", 64, 80, "RGB"),
          ("d.png", 100, 120, "RGB"), ("e.png", 64, 80, "L"), ("f.png", 64, 80, "RGBA"),
          ("g.png", 50, 70, "RGB"), ("big.png", 200, 300, "RGB")]


def _expected(model: Path, src: Path, out: Path, ext: str = ".png", **options) -> Path:
    loaded = load_inference_model(model, "cpu", **options)
    summary = translate_files(loaded, plan_outputs(src, out, ext=ext), batch_size=8,
                              device="cpu", max_pixels=4 * 128 * 128)
    assert not summary.failed
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for i, (name, h, w, mode) in enumerate(INPUTS):
        photo(folder / name, h, w, seed=i, mode=mode)
    return folder


def test_concurrent_requests_equal_translate_bit_for_bit(served, checkpoint, inputs, tmp_path):
    expected = _expected(checkpoint, inputs, tmp_path / "out")

    def post(name: str) -> bytes:
        with open(inputs / name, "rb") as f:
            reply = httpx.post(f"{served.url}/v1/translate", files={"image": (name, f)},
                               timeout=60)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "image/png"
        return reply.content

    with ThreadPoolExecutor(len(INPUTS)) as pool:
        got = dict(zip([n for n, *_ in INPUTS], pool.map(post, [n for n, *_ in INPUTS]),
                       strict=True))
    for name, *_ in INPUTS:
        assert got[name] == (expected / Path(name).with_suffix(".png")).read_bytes(), name
    queue = served.state.queues["tiny"]
    assert queue.largest > 1, "requests sent together were not batched"
    assert queue.held == 0


@pytest.mark.parametrize(("query", "ext", "options"), [
    ({"seed": 7}, ".png", {"seed": 7}),
    ({"eval": "true", "format": "jpeg"}, ".jpg", {"test_mode": "eval"}),
    ({"no_dropout": "1", "format": "webp"}, ".webp", {"dropout": False}),
])
def test_options_and_formats_equal_translate(served, checkpoint, inputs, tmp_path, query, ext,
                                             options):
    src = inputs / "d.png"
    expected = _expected(checkpoint, src, tmp_path / f"d{ext}", ext=ext, **options)
    reply = httpx.post(f"{served.url}/v1/translate", params=query,
                       content=src.read_bytes(), headers={"content-type": "image/png"},
                       timeout=60)
    assert reply.status_code == 200, reply.text
    if "seed" in query:  # dropout on: a raw body has no file name, and the name seeds it
        assert reply.content != expected.read_bytes()
    else:
        assert reply.content == expected.read_bytes()
    named = httpx.post(f"{served.url}/v1/translate", params={**query, "name": "d.png"},
                       content=src.read_bytes(), timeout=60)
    assert named.content == expected.read_bytes()


def test_side_of_an_ab_image(served, checkpoint, inputs, tmp_path):
    src = photo(tmp_path / "ab.png", 64, 160, seed=9)
    loaded = load_inference_model(checkpoint, "cpu")
    translate_files(loaded, plan_outputs(src, tmp_path / "ab_out.png"), device="cpu",
                    side="B", max_pixels=4 * 128 * 128)
    with open(src, "rb") as f:
        reply = httpx.post(f"{served.url}/v1/translate", params={"side": "B"},
                           files={"image": ("ab.png", f)}, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.content == (tmp_path / "ab_out.png").read_bytes()


def test_a_run_is_resized_as_it_was_trained_as_translate_does(tmp_path):
    import torch
    from typer.testing import CliRunner

    from img2img.cli.app import app as cli
    from img2img.families import load_run_config
    from img2img.models.released import save_release
    from img2img.nn import create_generator
    from img2img.serve.settings import ServeSettings
    from tests.serve.conftest import start_server

    config = load_run_config({"family": "pix2pix", "model": {"netG": "unet_128", "ngf": 4},
                              "data": {"root": "data", "preprocess": "resize_and_crop",
                                       "load_size": 72, "crop_size": 64}})
    torch.manual_seed(1)
    net = create_generator("unet_128", in_channels=3, out_channels=3, ngf=4, norm="batch",
                           dropout=True)
    release = save_release(tmp_path / "run.safetensors", {"G": net}, family="pix2pix",
                           config=config.to_dict(), step=1)
    src = photo(tmp_path / "wide.png", 60, 90, seed=4)
    result = CliRunner().invoke(cli, ["translate", "--model", str(release), str(src),
                                      str(tmp_path / "out.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    running = start_server(ServeSettings(models=(str(release),), device="cpu"))
    try:
        reply = httpx.post(f"{running.url}/v1/translate", timeout=60,
                           files={"image": ("wide.png", src.read_bytes())})
    finally:
        running.stop()
    assert reply.status_code == 200, reply.text
    assert reply.content == (tmp_path / "out.png").read_bytes()
    assert Image.open(tmp_path / "out.png").size == (64, 64)  # the run's 64 px square
