"""cuDNN autotuning and TF32: decided from the device and the options, said in the summary."""

from __future__ import annotations

import pytest
import torch

from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.engine.backends import BackendChoice, apply_backends, choose_backends
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.options import build, options_of

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def _config(preprocess: str = "resize_and_crop", **train) -> RunConfig:
    return RunConfig(family="pix2pix", model=Pix2PixConfig(),
                     data=DataConfig(root="data", preprocess=preprocess),
                     train=TrainConfig(device="cpu", **train), name="t")


@pytest.fixture
def restored_flags():
    """The process-wide settings as they were before the test."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.fp32_precision,
             torch.backends.cudnn.conv.fp32_precision)
    yield saved
    torch.backends.cudnn.benchmark = saved[0]
    torch.backends.cuda.matmul.fp32_precision = saved[1]
    torch.backends.cudnn.conv.fp32_precision = saved[2]


def test_cuda_runs_autotune_and_use_tf32_by_default():
    choice = choose_backends(CUDA, _config())
    assert (choice.cudnn_benchmark, choice.tf32) == (True, True)
    assert choice.describe() == (
        "cuDNN autotuning on (--no-cudnn-benchmark to turn it off); TF32 on for float32 "
        "convolutions and matrix products (--no-tf32 for full float32)")


def test_the_options_turn_each_off():
    choice = choose_backends(CUDA, _config(cudnn_benchmark=False, tf32=False))
    assert (choice.cudnn_benchmark, choice.tf32) == (False, False)
    assert choice.describe() == (
        "cuDNN autotuning off (--no-cudnn-benchmark); TF32 off: float32 convolutions and matrix "
        "products in full float32 (--no-tf32)")


def test_varying_shapes_keep_autotuning_off():
    choice = choose_backends(CUDA, _config(preprocess="none"))
    assert not choice.cudnn_benchmark and choice.tf32
    assert choice.describe().startswith(
        "cuDNN autotuning off (--preprocess none: every image size is a new shape to tune)")
    # images of one aspect ratio scaled to one width repeat their shape: autotuned
    assert choose_backends(CUDA, _config(preprocess="scale_width")).cudnn_benchmark


def test_mixed_precision_says_what_tf32_covers():
    text = choose_backends(CUDA, _config(precision="bf16")).describe()
    assert text.endswith("TF32 on for what bf16 autocast leaves in float32 (--no-tf32 for full "
                         "float32)")


def test_nothing_is_used_off_cuda(restored_flags):
    choice = choose_backends(CPU, _config())
    assert choice == BackendChoice(CPU, "fp32", False, False)
    assert choice.describe() == ("cuDNN autotuning and TF32: not used on cpu (CUDA settings; no "
                                 "effect here)")
    torch.backends.cudnn.benchmark = True
    apply_backends(choice)  # leaves the process's settings alone
    assert torch.backends.cudnn.benchmark is True
    assert (torch.backends.cuda.matmul.fp32_precision,
            torch.backends.cudnn.conv.fp32_precision) == restored_flags[1:]


@pytest.mark.parametrize(("tf32", "precision"), [(True, "tf32"), (False, "ieee")])
def test_applied_on_cuda(restored_flags, tf32, precision):
    apply_backends(choose_backends(CUDA, _config(tf32=tf32)))
    assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cuda.matmul.fp32_precision == precision
    assert torch.backends.cudnn.conv.fp32_precision == precision


def test_flags_are_recorded_in_the_config_and_old_configs_read_on():
    train = build(TrainConfig, {**{o.name: o.default for o in options_of(TrainConfig)},
                                "no_cudnn_benchmark": True, "no_tf32": True})
    assert (train.cudnn_benchmark, train.tf32) == (False, False)
    saved = _config(cudnn_benchmark=False, tf32=False).to_dict()
    assert (saved["train"]["cudnn_benchmark"], saved["train"]["tf32"]) == (False, False)
    assert RunConfig.from_dict(saved, Pix2PixConfig).train.tf32 is False
    del saved["train"]["cudnn_benchmark"], saved["train"]["tf32"]  # a run from before
    old = RunConfig.from_dict(saved, Pix2PixConfig)
    assert (old.train.cudnn_benchmark, old.train.tf32) == (True, True)
