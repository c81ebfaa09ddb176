"""ONNX export with dynamic batch, height and width (multiples of the network's size multiple)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.atomic import atomic_write
from img2img.export.metadata import flat_properties
from img2img.extras import install_hint
from img2img.models.onnx_runtime import METADATA_KEY

#: the ONNX opset exported by default
DEFAULT_OPSET = 18


def example_blocks(size_multiple: int, min_size: int) -> tuple[int, int]:
    """``(least, example)`` counts of size multiples along a side.

    The example has at least two multiples: torch.export would fix a size of one multiple.
    """
    least = max(1, math.ceil(min_size / size_multiple))
    return least, max(2, least)


def export_onnx(
    net: nn.Module, example: Tensor, path: Path, size_multiple: int, min_size: int,
    metadata: dict[str, Any], opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``net`` as ONNX at ``path`` with dynamic batch, height and width.

    Height and width are symbolic multiples of ``size_multiple`` (``{m}*h_blocks``); the
    description ``metadata`` is stored as JSON under :data:`METADATA_KEY`, and its main fields
    as separate properties.
    """
    try:
        import onnx  # noqa: F401 - the exporter needs it
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ValueError(install_hint("onnx", "onnx / onnxscript")) from exc
    least, _ = example_blocks(size_multiple, min_size)
    batch = torch.export.Dim("batch", min=1)
    h_blocks = torch.export.Dim("h_blocks", min=least)
    w_blocks = torch.export.Dim("w_blocks", min=least)
    shapes = {"x": {0: batch, 2: size_multiple * h_blocks, 3: size_multiple * w_blocks}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and progress chatter
        program = torch.onnx.export(
            _Named(net), (example,), input_names=["input"], output_names=["output"],
            dynamic_shapes=shapes, opset_version=opset, dynamo=True, external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    for key, value in {**flat_properties(metadata), METADATA_KEY: json.dumps(metadata)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return path


class _Named(nn.Module):
    """``net`` with its input argument called ``x`` (what ``dynamic_shapes`` refers to)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def onnx_runner(path: Path):
    """A function running the ONNX file at ``path`` with onnxruntime on the CPU."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ValueError(install_hint("onnx", "onnxruntime")) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])

    return run
