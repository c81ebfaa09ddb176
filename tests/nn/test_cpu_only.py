"""The CPU-only speed-ups are applied on the CPU only, never to CUDA layers or runs.

No GPU here: the meta device stands in for CUDA where a module or tensor is needed (every
guard asks "is it the CPU?", so any other device answers as CUDA does)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from img2img.cli import memory
from img2img.infer.stochastic import batch_invariant
from img2img.models.inference import cpu_inference
from img2img.nn.cpu_fast import FastConv2d, FastConvTranspose2d, cpu_fast_path, use_cpu_fast_path
from img2img.nn.cpu_only import cpu_only


def _net(device: str = "cpu") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.ReLU(),
                         nn.ConvTranspose2d(8, 3, 4, 2, 1)).to(device)


def _classes(net: nn.Module) -> list[type]:
    return [type(m) for m in net.modules()]


@pytest.mark.parametrize(("where", "expected"), [
    ("cpu", True), (torch.device("cpu"), True), ("cuda", False), (torch.device("cuda:1"), False),
    ("mps", False), (torch.zeros(1), True), (torch.zeros(1, device="meta"), False),
    (nn.ReLU(), True),
])
def test_cpu_only_answers_for_devices_tensors_and_modules(where, expected):
    assert cpu_only(where) is expected


def test_a_module_with_any_tensor_off_the_cpu_is_not_the_cpus():
    net = _net()
    assert cpu_only(net)
    net[2].to("meta")
    assert not cpu_only(net) and cpu_only(net[0])


def test_fast_layers_are_swapped_in_on_the_cpu_only():
    assert _classes(use_cpu_fast_path(_net()))[1::2] == [FastConv2d, FastConvTranspose2d]
    off = _net("meta")
    plain = _classes(off)
    assert _classes(use_cpu_fast_path(off)) == plain
    with cpu_fast_path(off):
        assert _classes(off) == plain


def test_batch_invariance_stand_ins_leave_layers_off_the_cpu_alone():
    on_cpu, off = _net(), _net("meta")
    with batch_invariant(on_cpu):
        assert type(on_cpu[0]).__name__ == "_ImageByImageConv"
    with batch_invariant(off):
        assert type(off[0]) is nn.Conv2d and type(off[2]) is nn.ConvTranspose2d


def test_inference_on_cuda_runs_the_plain_layers():
    net = _net()
    plain = _classes(net)
    with cpu_inference(net, torch.device("cuda")):
        assert _classes(net) == plain
    with cpu_inference(net, "cpu"):
        assert _classes(net) != plain


def test_malloc_is_tuned_for_cpu_work_only(monkeypatch):
    from img2img.engine import heap

    calls = []
    monkeypatch.setattr(memory.sys, "platform", "linux")
    monkeypatch.setattr(memory, "_capped", lambda: False)
    monkeypatch.setenv(memory.ENV, "warm")
    monkeypatch.setattr(heap, "keep_freed_memory", lambda: calls.append(1) or True)
    assert memory.tune_allocator(torch.device("cuda")) is False
    assert memory.tune_allocator("cuda:0") is False and calls == []
    assert memory.tune_allocator(torch.device("cpu")) is True and calls == [1]
