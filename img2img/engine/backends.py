"""cuDNN autotuning and TF32 for a training run, decided on purpose and said in its summary.

Both are CUDA settings and process-wide: :func:`choose_backends` decides them from the device
and the run's options (``--no-cudnn-benchmark``, ``--no-tf32``), :func:`apply_backends` sets
them (on CUDA only; on other devices nothing is touched) and
:meth:`BackendChoice.describe` is the line the run's summary shows.

* **cuDNN autotuning** (``torch.backends.cudnn.benchmark``) times the convolution algorithms
  of each new input shape once and keeps the fastest; it pays off when shapes repeat, as they
  do for crops and for images of one aspect ratio scaled to one width. With
  ``--preprocess none`` every image size is a shape of its own, so it stays off there.
* **TF32** runs the float32 convolutions and matrix products on the tensor cores with a
  10-bit mantissa (about 1e-3 relative error per product, several times faster on Ampere and
  later). In bf16 and fp16 runs it covers only what autocast leaves in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from img2img.config import RunConfig


@dataclass(frozen=True)
class BackendChoice:
    """What a run sets: ``cudnn_benchmark`` and ``tf32`` (False for both off CUDA)."""

    device: torch.device
    precision: str
    cudnn_benchmark: bool
    tf32: bool
    #: why autotuning is off although asked for (varying shapes), else None
    benchmark_off_because: str | None = None

    def describe(self) -> str:
        """The run summary's line about these settings."""
        if self.device.type != "cuda":
            return (f"cuDNN autotuning and TF32: not used on {self.device.type} (CUDA settings; "
                    "no effect here)")
        if self.cudnn_benchmark:
            bench = "cuDNN autotuning on (--no-cudnn-benchmark to turn it off)"
        elif self.benchmark_off_because:
            bench = f"cuDNN autotuning off ({self.benchmark_off_because})"
        else:
            bench = "cuDNN autotuning off (--no-cudnn-benchmark)"
        if not self.tf32:
            tf32 = "TF32 off: float32 convolutions and matrix products in full float32 (--no-tf32)"
        elif self.precision == "fp32":
            tf32 = ("TF32 on for float32 convolutions and matrix products (--no-tf32 for full "
                    "float32)")
        else:
            tf32 = (f"TF32 on for what {self.precision} autocast leaves in float32 (--no-tf32 "
                    "for full float32)")
        return f"{bench}; {tf32}"


def choose_backends(device: torch.device, config: RunConfig) -> BackendChoice:
    """The settings a run of ``config`` on ``device`` uses (see the module's text)."""
    train = config.train
    if device.type != "cuda":
        return BackendChoice(device, train.precision, False, False)
    varying = None
    if config.data.preprocess == "none":
        varying = "--preprocess none: every image size is a new shape to tune"
    return BackendChoice(device, train.precision,
                         cudnn_benchmark=train.cudnn_benchmark and varying is None,
                         tf32=train.tf32,
                         benchmark_off_because=varying if train.cudnn_benchmark else None)


def apply_backends(choice: BackendChoice) -> None:
    """Set the process-wide CUDA settings of ``choice``; off CUDA nothing is changed."""
    if choice.device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = choice.cudnn_benchmark
    precision = "tf32" if choice.tf32 else "ieee"
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.conv.fp32_precision = precision
