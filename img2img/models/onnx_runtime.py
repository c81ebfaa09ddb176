"""Exported ONNX generators, run by onnxruntime behind the same interface as a torch model.

An ONNX file written by ``img2img export`` carries its description in the model's metadata
(key :data:`METADATA_KEY`, a JSON object): family, network, channels, size multiple, ranges,
test-time mode and, for trained runs, the run's config. :class:`OnnxModel` reads inputs and
encodes them as the original family does, runs the graph with onnxruntime and decodes the
result, so ``translate`` and ``evaluate`` treat it like any inference model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.data.streams import Stream
from img2img.extras import install_hint
from img2img.models.inference import InferenceModel

#: metadata_props key holding the JSON description
METADATA_KEY = "img2img"
#: the ``format`` value of that description
EXPORT_FORMAT = "img2img-export"


class OnnxModel:
    """An ONNX generator under onnxruntime, with the input encoding of the model it came from.

    Args:
        session: an ``onnxruntime.InferenceSession`` over the exported graph.
        reference: an inference model of the same family and config (its network is never
            run): it reads and encodes inputs and decodes outputs.
        metadata: the description stored in the file.
        source: the ONNX file.
    """

    def __init__(self, session: Any, reference: InferenceModel, metadata: dict[str, Any],
                 source: Path) -> None:
        self.session = session
        self.reference = reference
        self.metadata = metadata
        self.source = source
        self.input_name = session.get_inputs()[0].name
        self.providers = list(session.get_providers())

    def with_reference(self, reference: InferenceModel) -> OnnxModel:
        """The same graph and session, reading and encoding inputs as ``reference`` does."""
        return OnnxModel(self.session, reference, self.metadata, self.source)

    # what translate and evaluate read
    family = property(lambda self: self.reference.family)
    network = property(lambda self: self.reference.network)
    in_channels = property(lambda self: self.reference.in_channels)
    out_channels = property(lambda self: self.reference.out_channels)
    config = property(lambda self: self.reference.config)
    options = property(lambda self: self.reference.options)
    step = property(lambda self: self.metadata.get("step"))

    @property
    def input_stream(self) -> Stream:
        return self.reference.input_stream

    @property
    def input_streams(self) -> tuple[Stream, ...]:
        return self.reference.input_streams

    @property
    def variants(self) -> tuple[str, ...]:
        return self.reference.variants

    def input_files(self, src: Path, key: str) -> dict[str, Path]:
        return self.reference.input_files(src, key)

    def encode_streams(
        self, inputs: Mapping[str, Tensor], keys: Sequence[str], variants: Sequence[str]
    ) -> Tensor:
        return self.reference.encode_streams(inputs, keys, variants)

    @property
    def size_multiple(self) -> int:
        return int(self.metadata["size_multiple"])

    @property
    def min_size(self) -> int:
        return int(self.metadata.get("min_size", 1))

    @property
    def networks(self) -> dict[str, nn.Module]:
        return {}  # onnxruntime holds the weights

    def to(self, device: str | torch.device) -> OnnxModel:
        return self

    def encode(self, images: Tensor) -> Tensor:
        return self.reference.encode(images)

    def decode(self, output: Tensor) -> Tensor:
        return self.reference.decode(output)

    def run(self, x: Tensor, keys: Sequence[str]) -> Tensor:
        """The graph's output for encoded inputs ``x`` (float32; the keys are not used)."""
        if torch.is_autocast_enabled(x.device.type):
            raise ValueError(
                f"{self.source}: an ONNX model runs in float32 as exported; "
                "use --precision fp32"
            )
        array = x.detach().float().cpu().contiguous().numpy()
        (output,) = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(output).to(x.device)

    def describe_mode(self) -> str:
        return f"{self.metadata.get('test_mode', 'as exported')}, onnxruntime"

    def describe(self) -> dict[str, Any]:
        described = self.reference.describe()
        described.update(source=str(self.source), step=self.step, test_mode=self.describe_mode(),
                         runtime=f"onnxruntime ({', '.join(self.providers)})")
        return described


def read_metadata(props: dict[str, str], source: Path) -> dict[str, Any]:
    """The img2img description in an ONNX model's metadata properties."""
    if METADATA_KEY not in props:
        raise ValueError(
            f"{source}: an ONNX model without img2img metadata; expected a file written by "
            "'img2img export --format onnx'"
        )
    metadata = json.loads(props[METADATA_KEY])
    if metadata.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{source}: unknown img2img export format {metadata.get('format')!r}")
    return metadata


def providers_for(device: torch.device, available: Sequence[str]) -> list[str]:
    """The onnxruntime execution providers for ``device``."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(
        f"--device {device}: this onnxruntime has the providers {', '.join(available)}; "
        "ONNX models run on cpu (or cuda with onnxruntime-gpu)"
    )


def load_onnx_model(
    source: Path,
    device: torch.device,
    reference: Callable[[dict[str, Any], dict[str, Any]], InferenceModel],
    options: dict[str, Any],
) -> OnnxModel:
    """Open ``source`` with onnxruntime; ``reference(metadata, options)`` rebuilds the model it
    was exported from (and refuses test-time options the export fixed).
    """
    session = _session(source, device)
    metadata = read_metadata(session.get_modelmeta().custom_metadata_map, source)
    try:
        model = reference(metadata, options)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    return OnnxModel(session, model, metadata, source)


def read_onnx_metadata(source: Path) -> dict[str, Any]:
    """The img2img description stored in the ONNX export ``source`` (nothing is run)."""
    session = _session(source, torch.device("cpu"))
    return read_metadata(session.get_modelmeta().custom_metadata_map, source)


def _session(source: Path, device: torch.device) -> Any:
    """An onnxruntime session of ``source`` on ``device``."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ValueError(f"{source}: {install_hint('onnx', 'onnxruntime')}") from exc
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = torch.get_num_threads()
    providers = providers_for(device, onnxruntime.get_available_providers())
    try:
        return onnxruntime.InferenceSession(str(source), session_options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - any parser failure is one message
        raise ValueError(f"{source}: not a readable ONNX model ({exc})") from exc
