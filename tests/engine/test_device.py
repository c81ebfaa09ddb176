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
