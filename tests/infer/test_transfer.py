"""Overlapped translation (reused host buffers, copies back behind events), run on the CPU with
no-op streams: the same files as the plain path, buffers reused, worker counts by affinity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from img2img.infer import transfer, translate
from img2img.infer.batch import Translator, prepare
from img2img.infer.plan import Job, plan_outputs
from img2img.infer.transfer import HostBuffers, Staging, io_threads
from img2img.models.inference import InferenceModel

CPU = torch.device("cpu")


def _images(root: Path, sizes: list[tuple[int, int]]) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:02d}.png")


def _model(net: nn.Module) -> InferenceModel:
    return InferenceModel(net, "pix2pix", "unet_128", 3, 3, test_mode="eval", dropout=False)


@pytest.mark.parametrize("batch_size", [2, 3])
def test_overlapped_pipeline_writes_what_the_plain_one_does(
        tmp_path: Path, unet128: nn.Module, monkeypatch: pytest.MonkeyPatch,
        batch_size: int) -> None:
    # 7 images padded to 128x128 (full batches and a partial last one) and 2 of another size
    _images(tmp_path / "in", [(40, 56)] * 7 + [(130, 20)] * 2)
    plain = translate.translate_files(_model(unet128), plan_outputs(tmp_path / "in",
                                                                    tmp_path / "plain"),
                                      batch_size=batch_size)
    made: list[Translator] = []

    def overlapping(*args, **kwargs) -> Translator:
        made.append(Translator(*args, **kwargs, overlap=True))
        return made[-1]

    monkeypatch.setattr(translate, "Translator", overlapping)
    over = translate.translate_files(_model(unet128), plan_outputs(tmp_path / "in",
                                                                   tmp_path / "over"),
                                     batch_size=batch_size)
    assert plain.written == over.written == 9 and not over.failed
    for path in sorted((tmp_path / "plain").iterdir()):
        assert (tmp_path / "over" / path.name).read_bytes() == path.read_bytes(), path.name
    (translator,) = made
    assert translator.staging is not None
    # two slots of input buffers for each of the 2 sizes would be 4; the larger size comes
    # last and grows them, outputs take 2 buffers, each grown once at most
    assert translator.staging.buffers.allocations <= 6


def test_results_outlive_the_reused_buffers(unet128: nn.Module) -> None:
    model = _model(unet128)
    translator = Translator(model, CPU, "fp32", overlap=True)
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> list:
        return [prepare(Job(Path(f"{i}.png"), Path(f"o{i}.png"), f"{i}.png"), model,
                        {model.input_streams[0].name: torch.rand(3, 128, 128, generator=g)},
                        None, None)
                for i in range(n)]

    first = translator.launch(batch(3))
    second = translator.launch(batch(3))  # overlapping: the first is still out
    kept = [out.clone() for _, out in first.results()]
    for _ in range(3):
        translator.launch(batch(2)).results()  # reuses every buffer, a partial batch too
    assert all(torch.equal(out, k) for (_, out), k in zip(first.results(), kept, strict=True))
    assert len(second.results()) == 3 and first.results()[0][1].shape == (3, 128, 128)


def test_staging_reuses_two_slots_and_grows_for_larger_batches() -> None:
    staging = Staging(CPU)
    pointers = []
    for n in (4, 4, 4, 3):  # the last partial batch fits the buffers
        moved = staging.upload({"image": torch.full((n, 3, 8, 8), float(n))})
        pointers.append(moved["image"].data_ptr())
        out = staging.download(moved["image"] * 2)
        assert torch.equal(out.wait(), torch.full((n, 3, 8, 8), 2.0 * n))
    assert pointers[0] == pointers[2] and pointers[1] == pointers[3] != pointers[0]
    assert staging.buffers.allocations == 3  # 2 input slots, 1 output buffer (always taken)
    staging.upload({"image": torch.zeros(5, 3, 8, 8)})
    assert staging.buffers.allocations == 4  # a larger batch grows its slot's buffer once


def test_an_output_not_yet_taken_is_never_overwritten() -> None:
    staging = Staging(CPU)
    first = staging.download(torch.ones(2, 3))
    second = staging.download(torch.full((2, 3), 2.0))  # first not taken: another buffer
    assert first.host.data_ptr() != second.host.data_ptr()
    assert torch.equal(first.wait(), torch.ones(2, 3))
    third = staging.download(torch.full((2, 3), 3.0))
    assert third.host.data_ptr() == first.host.data_ptr()  # taken: reused
    assert torch.equal(second.wait(), torch.full((2, 3), 2.0))


def test_host_buffers_are_new_only_for_new_keys_dtypes_or_sizes() -> None:
    buffers = HostBuffers(pin=False)
    a = buffers.take(("x",), (2, 3), torch.float32)
    assert buffers.take(("x",), (3, 2), torch.float32).data_ptr() == a.data_ptr()
    assert buffers.allocations == 1
    buffers.take(("x",), (2, 3), torch.uint8)
    buffers.take(("y",), (2, 3), torch.uint8)
    assert buffers.allocations == 3


def test_io_threads_follow_the_cpu_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer.os, "sched_getaffinity", lambda pid: set(range(16)),
                        raising=False)
    assert transfer.available_cores() == 16
    assert io_threads(torch.device("cuda")) == 8
    assert io_threads(CPU) == transfer.CPU_IO_THREADS == 2  # the math threads use the cores
    monkeypatch.setattr(transfer.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert io_threads(torch.device("cuda")) == 2  # never below 2
    monkeypatch.delattr(transfer.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(transfer.os, "cpu_count", lambda: 12)
    assert io_threads(torch.device("cuda")) == 6


def test_translate_files_sizes_its_pools_by_the_device(
        tmp_path: Path, unet128: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    _images(tmp_path / "in", [(20, 20)])
    counts: list[int] = []
    real_pool = translate.thread_pool

    def pool(count: int, name: str, niceness: int = 0):
        counts.append(count)
        return real_pool(count, name, niceness)

    monkeypatch.setattr(translate, "thread_pool", pool)
    translate.translate_files(_model(unet128), plan_outputs(tmp_path / "in", tmp_path / "o"))
    translate.translate_files(_model(unet128), plan_outputs(tmp_path / "in", tmp_path / "p"),
                              num_threads=3)
    assert counts == [2, 2, 3, 3]  # CPU default: 2 readers, 2 writers; an explicit count wins
