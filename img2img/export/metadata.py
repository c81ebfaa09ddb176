"""The description stored inside exported files, so they can be used without img2img."""

from __future__ import annotations

from typing import Any

from img2img import __version__
from img2img.models.inference import InferenceModel
from img2img.models.onnx_runtime import EXPORT_FORMAT

#: model-range of the exported network's input and output
NETWORK_RANGE = (-1.0, 1.0)


def export_metadata(
    model: InferenceModel, *, fmt: str, notes: list[str], opset: int | None = None
) -> dict[str, Any]:
    """Everything a user of an exported network needs to feed it and read its output."""
    described = model.describe()
    channels_in, channels_out = model.in_channels, model.out_channels
    return {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "exported_as": fmt,
        "img2img_version": __version__,
        "family": model.family,
        "network": model.network,
        "in_channels": channels_in,
        "out_channels": channels_out,
        "input_kind": described["input_kind"],
        "size_multiple": model.size_multiple,
        "min_size": model.min_size,
        "input": {"name": "input",
                  "shape": ["batch", model.network_in_channels, "height", "width"],
                  "range": list(NETWORK_RANGE), "encoding": model.input_encoding},
        "output": {"name": "output", "shape": ["batch", channels_out, "height", "width"],
                   "range": list(NETWORK_RANGE)},
        "height_width": f"multiples of {model.size_multiple}, at least {model.min_size}",
        "test_mode": model.deterministic_mode(),
        "notes": notes,
        "opset": opset,
        "step": model.step,
        "config": None if model.config is None else model.config.to_dict(),
        "extra": model.export_state(),
    }


def flat_properties(metadata: dict[str, Any]) -> dict[str, str]:
    """The main fields as separate strings, for viewers that list metadata properties."""
    keys = ("family", "network", "in_channels", "out_channels", "size_multiple", "min_size",
            "test_mode", "height_width", "img2img_version")
    props = {f"img2img.{k}": str(metadata[k]) for k in keys}
    props["img2img.input_range"] = props["img2img.output_range"] = "[-1, 1]"
    return props
