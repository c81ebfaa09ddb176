"""Device and precision resolution."""

from __future__ import annotations

import pytest
import torch

from img2img.config import ConfigError
from img2img.engine.device import Precision, resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_explained():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.parametrize("name,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_autocast_dtype_on_cpu(name, dtype):
    precision = Precision(name, torch.device("cpu"))
    conv = torch.nn.Conv2d(3, 3, 3)
    with precision.autocast():
        assert conv(torch.randn(1, 3, 8, 8)).dtype == dtype
    assert (precision.scaler is not None) == (name == "fp16")


def test_fp32_is_plain():
    precision = Precision("fp32", torch.device("cpu"))
    with precision.autocast():
        assert torch.nn.Linear(2, 2)(torch.randn(1, 2)).dtype == torch.float32
    assert precision.state_dict() is None


def test_inference_after_a_fused_optimizer_step_sees_the_new_weights():
    """A fused Adam writes parameters without bumping their version counters; the step does,
    so the CPU fast path's packed weights (kept while the counter stands) are made again."""
    from img2img.nn.cpu_fast import use_cpu_fast_path

    torch.manual_seed(0)
    net = use_cpu_fast_path(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1)))
    plain = torch.nn.Conv2d(3, 8, 3, padding=1)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1, fused=True)
    precision = Precision("fp32", torch.device("cpu"))
    x = torch.randn(1, 3, 16, 16)
    for _ in range(3):
        with torch.no_grad():
            for _ in range(3):  # the same shape again: the weight is packed and kept
                out = net(x)
            plain.load_state_dict(net[0].state_dict())
            torch.testing.assert_close(out, plain(x), atol=1e-5, rtol=1e-4)
        net(x).square().mean().backward()
        precision.step(optimizer)
        optimizer.zero_grad()
