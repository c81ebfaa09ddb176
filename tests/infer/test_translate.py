"""Planning output paths and translating folders end to end with a tiny real generator."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from img2img.data.io import read_image
from img2img.data.ranges import from_model_range, to_model_range
from img2img.infer.padding import crop_back, pad_to_multiple
from img2img.infer.plan import Job, plan_outputs
from img2img.infer.translate import TranslateSummary, translate_files
from img2img.models.inference import InferenceModel

MULTIPLE = 128  # unet_128


def _rgb(path: Path, h: int, w: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w)[None, :, None] * rng.uniform(0.3, 1.0, (1, 1, 3))
    noise = rng.normal(0, 20, (h, w, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)
    return path


def _tree(root: Path) -> dict[str, Path]:
    """Nested folders, mixed sizes, gray, 16-bit gray and colour, a corrupt file."""
    files = {
        "a.png": _rgb(root / "a.png", 40, 56, 0),
        "sub/b.jpg": _rgb(root / "sub" / "b.jpg", 64, 64, 1),
        "sub/deeper/c.png": _rgb(root / "sub" / "deeper" / "c.png", 33, 47, 2),
        "tall.png": _rgb(root / "tall.png", 130, 20, 3),
        "sub/d.png": _rgb(root / "sub" / "d.png", 20, 20, 4),
    }
    gray = np.random.default_rng(5).integers(0, 256, (30, 50), dtype=np.uint8)
    Image.fromarray(gray).save(root / "gray.png")
    files["gray.png"] = root / "gray.png"
    deep = np.random.default_rng(6).integers(0, 65536, (25, 35), dtype=np.uint16)
    cv2.imwrite(str(root / "deep16.png"), deep)
    files["deep16.png"] = root / "deep16.png"
    deep_rgb = np.random.default_rng(7).integers(0, 65536, (21, 19, 3), dtype=np.uint16)
    cv2.imwrite(str(root / "sub" / "rgb16.png"), deep_rgb)
    files["sub/rgb16.png"] = root / "sub" / "rgb16.png"
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    files["bad.png"] = root / "bad.png"
    (root / "notes.txt").write_text("not an image")
    return files


def _expected(net: nn.Module, job: Job, seed: int, channels: int = 3,
              dropout: bool = True) -> np.ndarray:
    """The output pixels of the image alone (a batch of one), without the pipeline."""
    x, size = pad_to_multiple(read_image(job.src, channels=channels)[None], MULTIPLE)
    model = _model(net, channels, dropout=dropout, seed=seed)
    with torch.inference_mode():
        y = crop_back(from_model_range(model.run(to_model_range(x), [job.key])), size)[0]
    array = np.rint(y.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return array[..., 0] if channels == 1 else array


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def _model(net: nn.Module, channels: int = 3, out_channels: int | None = None,
           paper_mode: bool = True, dropout: bool = True, seed: int = 0) -> InferenceModel:
    """The inference model translate runs: ``net`` with the given test-time mode."""
    return InferenceModel(net, "pix2pix", "unet_128", channels,
                          channels if out_channels is None else out_channels,
                          test_mode="paper" if paper_mode else "eval", dropout=dropout, seed=seed)


def _translate(net: nn.Module, jobs: list[Job], *, paper_mode: bool = True, dropout: bool = True,
               seed: int = 0, **options) -> TranslateSummary:
    return translate_files(_model(net, paper_mode=paper_mode, dropout=dropout, seed=seed), jobs,
                           **options)


# -- plan_outputs ---------------------------------------------------------------------------


def test_folder_outputs_mirror_relative_paths(tmp_path: Path) -> None:
    _tree(tmp_path / "in")
    jobs = plan_outputs(tmp_path / "in", tmp_path / "out", ext="jpg")
    keys = [job.key for job in jobs]
    assert keys == sorted(keys) and "notes.txt" not in keys
    assert set(keys) == {"a.png", "bad.png", "deep16.png", "gray.png", "sub/b.jpg",
                         "sub/d.png", "sub/deeper/c.png", "sub/rgb16.png", "tall.png"}
    by_key = {job.key: job for job in jobs}
    assert by_key["sub/deeper/c.png"].dst == tmp_path / "out" / "sub" / "deeper" / "c.jpg"
    assert by_key["sub/b.jpg"].src == tmp_path / "in" / "sub" / "b.jpg"


def test_single_file_to_file_or_folder(tmp_path: Path) -> None:
    src = _rgb(tmp_path / "x.jpg", 8, 8, 0)
    assert plan_outputs(src, tmp_path / "y.webp") == [Job(src, tmp_path / "y.webp", "x.jpg")]
    assert plan_outputs(src, tmp_path / "out")[0].dst == tmp_path / "out" / "x.png"
    (tmp_path / "dir.png").mkdir()  # an existing folder, even with an image-like name
    assert plan_outputs(src, tmp_path / "dir.png")[0].dst == tmp_path / "dir.png" / "x.png"


def test_output_folder_inside_input_is_not_translated_again(tmp_path: Path) -> None:
    _rgb(tmp_path / "a.png", 8, 8, 0)
    _rgb(tmp_path / "out" / "a.png", 8, 8, 1)  # a previous run's result
    jobs = plan_outputs(tmp_path, tmp_path / "out")
    assert [job.key for job in jobs] == ["a.png"]


def test_plan_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        plan_outputs(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt is not an image"):
        plan_outputs(tmp_path / "notes.txt", tmp_path / "out")
    with pytest.raises(ValueError, match="output extension '.gif'"):
        plan_outputs(tmp_path, tmp_path / "out", ext=".gif")
    _rgb(tmp_path / "in" / "a.jpg", 8, 8, 0)
    _rgb(tmp_path / "in" / "a.png", 8, 8, 1)
    outputs = sorted(job.dst.name for job in plan_outputs(tmp_path / "in", tmp_path / "out"))
    assert outputs == ["a.jpg.png", "a.png.png"]  # a clash is renamed, not an error
    with pytest.raises(ValueError, match="would replace the input itself"):
        plan_outputs(tmp_path / "in" / "a.png", tmp_path / "in")
    with pytest.raises(NotADirectoryError, match="notes.txt is a file"):
        plan_outputs(tmp_path / "in", tmp_path / "notes.txt")


# -- translate_files ------------------------------------------------------------------------


class _Recorder(nn.Module):
    """Wraps a generator and records the shape of every batch it sees."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.size_multiple = net.size_multiple
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.net(x)


def test_folder_tree_end_to_end(tmp_path: Path, unet128: nn.Module,
                                caplog: pytest.LogCaptureFixture) -> None:
    files = _tree(tmp_path / "in")
    out = tmp_path / "out"
    jobs = plan_outputs(tmp_path / "in", out)
    existing = _rgb(out / "sub" / "d.png", 5, 5, 9)
    kept = existing.read_bytes()
    net = _Recorder(unet128)  # in training mode, its generator in eval mode
    layout = [(name, type(m)) for name, m in net.named_modules()]
    calls: list[tuple[int, int]] = []
    with caplog.at_level(logging.WARNING, logger="img2img.infer.translate"):
        summary = _translate(net, jobs, batch_size=4, seed=3, progress=lambda *a: calls.append(a))

    assert summary.written == 7 and summary.skipped == 1
    assert summary.skipped_paths == [existing]
    assert [path for path, _ in summary.failed] == [files["bad.png"]]
    assert "bad.png" in summary.failed[0][1]
    assert any("bad.png" in record.getMessage() for record in caplog.records)
    assert existing.read_bytes() == kept  # not overwritten
    assert not (out / "bad.png").exists()
    assert calls[-1] == (9, 9) and calls == sorted(calls)
    assert summary.images_per_second > 0

    for job in jobs:
        if job.key in ("bad.png", "sub/d.png"):
            continue
        with Image.open(files[job.key]) as img:
            in_size = img.size
        got = _pixels(job.dst)
        assert (got.shape[1], got.shape[0]) == in_size, job.key
        assert got.shape[2] == 3
        assert np.array_equal(got, _expected(unet128, job, seed=3)), job.key

    # batched by padded size: 128x128 images together, the 130x20 one (256x128) alone
    assert {shape[2:] for shape in net.shapes} == {(128, 128), (256, 128)}
    assert sorted(shape[0] for shape in net.shapes) == [1, 2, 4]
    assert net.training and not unet128.training  # modes restored module by module
    assert [(name, type(m)) for name, m in net.named_modules()] == layout


def test_overwrite_replaces_existing_outputs(tmp_path: Path, unet128: nn.Module) -> None:
    src = _rgb(tmp_path / "a.png", 16, 24, 0)
    dst = _rgb(tmp_path / "out" / "a.png", 5, 5, 1)
    jobs = plan_outputs(src, tmp_path / "out")
    assert _translate(unet128, jobs).skipped == 1
    assert _pixels(dst).shape == (5, 5, 3)
    summary = _translate(unet128, jobs, overwrite=True)
    assert (summary.written, summary.skipped) == (1, 0)
    assert _pixels(dst).shape == (16, 24, 3)


def test_results_do_not_depend_on_batch_size(tmp_path: Path, unet128: nn.Module) -> None:
    for i, (h, w) in enumerate([(20, 30), (31, 17), (20, 30), (64, 64), (12, 40)]):
        _rgb(tmp_path / "in" / f"{i}.png", h, w, i)
    one = _translate(unet128, plan_outputs(tmp_path / "in", tmp_path / "one"), batch_size=1)
    many = _translate(unet128, plan_outputs(tmp_path / "in", tmp_path / "many"), batch_size=8,
                      num_threads=1)
    assert one.written == many.written == 5
    for i in range(5):
        assert np.array_equal(_pixels(tmp_path / "one" / f"{i}.png"),
                              _pixels(tmp_path / "many" / f"{i}.png"))
    other_seed = _translate(unet128, plan_outputs(tmp_path / "in", tmp_path / "seed"), seed=1)
    assert other_seed.written == 5
    assert not np.array_equal(_pixels(tmp_path / "one" / "0.png"),
                              _pixels(tmp_path / "seed" / "0.png"))


@pytest.mark.parametrize("paper_mode", [True, False])
def test_resnet_results_do_not_depend_on_batch_size(
    tmp_path: Path, make_generator: Callable[..., nn.Module], paper_mode: bool
) -> None:
    net = make_generator("resnet_6blocks")
    for i, (h, w) in enumerate([(20, 30), (18, 31), (20, 30), (40, 40), (20, 30)]):
        _rgb(tmp_path / "in" / f"{i}.png", h, w, i)
    for batch_size in (1, 8):
        jobs = plan_outputs(tmp_path / "in", tmp_path / f"b{batch_size}")
        summary = translate_files(_model(net, paper_mode=paper_mode), jobs, batch_size=batch_size)
        assert summary.written == 5
    for i in range(5):
        assert np.array_equal(_pixels(tmp_path / "b1" / f"{i}.png"),
                              _pixels(tmp_path / "b8" / f"{i}.png"))


def test_size_option_gives_square_outputs(tmp_path: Path, unet128: nn.Module) -> None:
    _rgb(tmp_path / "in" / "a.png", 40, 70, 0)
    _rgb(tmp_path / "in" / "b.png", 90, 30, 1)
    summary = _translate(unet128, plan_outputs(tmp_path / "in", tmp_path / "out"), size=50)
    assert summary.written == 2
    assert _pixels(tmp_path / "out" / "a.png").shape == (50, 50, 3)
    assert _pixels(tmp_path / "out" / "b.png").shape == (50, 50, 3)


def test_gray_generator_writes_gray(tmp_path: Path,
                                    make_generator: Callable[..., nn.Module]) -> None:
    net = make_generator("unet_128", channels=1)
    _rgb(tmp_path / "in" / "colour.png", 20, 30, 0)
    jobs = plan_outputs(tmp_path / "in", tmp_path / "out")
    summary = translate_files(_model(net, channels=1), jobs)
    assert summary.written == 1
    got = _pixels(tmp_path / "out" / "colour.png")
    assert got.shape == (20, 30)
    assert np.array_equal(got, _expected(net, jobs[0], seed=0, channels=1))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_cpu(tmp_path: Path, unet128: nn.Module, precision: str) -> None:
    src = _rgb(tmp_path / "a.png", 32, 32, 0)
    jobs = plan_outputs(src, tmp_path / "out")
    summary = _translate(unet128, jobs, precision=precision, dropout=False)
    assert summary.written == 1
    got = _pixels(jobs[0].dst).astype(np.float32)
    reference = _expected(unet128, jobs[0], seed=0, dropout=False).astype(np.float32)
    assert np.abs(got - reference).mean() < 4.0


def test_plain_eval_mode_uses_running_statistics(tmp_path: Path, unet128: nn.Module) -> None:
    src = _rgb(tmp_path / "a.png", 32, 32, 0)
    jobs = plan_outputs(src, tmp_path / "out")
    summary = _translate(unet128, jobs, paper_mode=False)
    assert summary.test_mode.startswith("eval")
    x, size = pad_to_multiple(read_image(src)[None], MULTIPLE)
    with torch.inference_mode():
        y = crop_back(from_model_range(unet128(to_model_range(x))), size)[0]
    expected = np.rint(y.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(_pixels(jobs[0].dst), expected)


def test_bad_options_and_mismatched_generator(tmp_path: Path, unet128: nn.Module) -> None:
    jobs = plan_outputs(_rgb(tmp_path / "a.png", 8, 8, 0), tmp_path / "out")
    with pytest.raises(ValueError, match="precision: 'fp8'"):
        _translate(unet128, jobs, precision="fp8")
    with pytest.raises(ValueError, match="batch_size: 0"):
        _translate(unet128, jobs, batch_size=0)
    with pytest.raises(RuntimeError, match="expected 1 channels"):
        translate_files(_model(unet128, out_channels=1), jobs)
    assert not jobs[0].dst.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_reader_and_writer_threads_yield_to_the_math_threads() -> None:
    from img2img.infer.translate import IO_NICENESS, thread_pool

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    own = niceness()
    pool = thread_pool(2, "test-io", IO_NICENESS)
    try:
        assert {pool.submit(niceness).result() for _ in range(4)} == {max(own, IO_NICENESS)}
    finally:
        pool.shutdown()
    assert niceness() == own  # the calling thread keeps its priority
