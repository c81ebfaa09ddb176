"""What a model holds, read without building or running a network (``img2img info``).

Every kind of file img2img writes or reads as a model: a run directory or checkpoint (see
:mod:`img2img.engine.inspect`), a ``.safetensors`` release, an ONNX or TorchScript export (the
description stored inside it) and bare generator weights such as the published ``.pth`` files
(recognised from their layout); and the published models by name, which are never downloaded
to be described.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from img2img.checkpoints import (
    FORMAT,
    CheckpointError,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.engine.inspect import architecture, describe, parameter_counts

__all__ = ["describe_model", "describe_model_file"]

#: how an export names its format, in words
_EXPORT_NAMES = {"onnx": "ONNX", "torchscript": "TorchScript"}

#: what bare weights' layout tells besides the generator's options
_NOT_OPTIONS = ("family", "network", "parameters", "legacy_statistics", "parallel_prefix")


def describe_model(model: str, weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """What ``model`` holds: a path (see :func:`describe_model_file`) or a published model's
    name (its registry entry, and its local file when it was downloaded to ``weights_dir``).

    Raises:
        WeightsError: ``model`` is neither an existing path nor a published name.
    """
    from img2img.hub.weights import WeightsError, is_published_name, not_found

    path = Path(model).expanduser()
    if path.exists():
        return describe_model_file(path)
    if not is_published_name(model):
        raise WeightsError(not_found(model, path, option=""))
    return _published(model, weights_dir)


def _published(name: str, weights_dir: str | os.PathLike | None) -> dict[str, Any]:
    """A published model: what the registry says, and what its local file holds if any."""
    from img2img.hub.weights import describe_published, get_published

    entry = describe_published(get_published(name), weights_dir)
    details: dict[str, Any] = {
        "source": entry["download_url"],
        "kind": f"published model {entry['name']}: {entry['description']}",
        "family": entry["family"],
        "architecture": _generator(entry["network"], entry["options"]),
        "downloaded": entry["path"] or "no ('img2img weights download NAME' or first use)",
        "config": None,
    }
    if entry["path"] is not None:
        details["parameters"] = describe_model_file(entry["path"])["parameters"]
    return details


def describe_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """``source``, ``kind``, ``family`` and what else the file at ``path`` tells about itself.

    Raises:
        CheckpointError: the file is none of the kinds above.
        ValueError: an export or release that cannot be read (the message says why).
    """
    from img2img.export import format_named_by

    path = Path(path)
    if path.is_dir():
        return {"kind": "run directory", **describe(path)}
    fmt = format_named_by(path)
    if fmt == "safetensors":
        return _release(path)
    if fmt == "onnx":
        from img2img.models.onnx_runtime import read_onnx_metadata

        return _export(path, read_onnx_metadata(path))
    if fmt == "torchscript":
        from img2img.export.torchscript import read_torchscript_metadata

        return _export(path, read_torchscript_metadata(path))
    source = resolve_checkpoint(path)
    data = read_checkpoint_file(source, mmap=True)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return {"kind": "checkpoint", **describe(path)}
    from img2img.models.published import is_bare_state_dict

    if is_bare_state_dict(data):
        return _weights(source, data, "generator weights")
    raise CheckpointError(
        f"{source}: not an img2img checkpoint, release or export, nor generator weights"
    )


def _weights(source: Path, state: dict[str, Any], kind: str) -> dict[str, Any]:
    """Bare generator weights, recognised from their layout."""
    from img2img.families.published import summarize_weights

    try:
        summary = summarize_weights(state)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    options = {k: v for k, v in summary.items() if k not in _NOT_OPTIONS}
    return {"source": str(source), "kind": kind, "family": summary["family"],
            "architecture": _generator(summary["network"], options),
            "parameters": {"G": summary["parameters"]}, "layout": summary, "config": None}


def _release(source: Path) -> dict[str, Any]:
    """A ``.safetensors`` release: its networks and the run's config."""
    from img2img.models.released import read_release

    states, metadata = read_release(source)
    config = metadata["config"]
    if config is None:  # published weights released as they were
        return _weights(source, states["G"], "release (.safetensors) of generator weights")
    return {"source": str(source), "kind": "release (.safetensors)",
            "family": metadata["family"], "architecture": architecture(config),
            "step": metadata["step"], "parameters": parameter_counts(states), "config": config}


def _export(source: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """An ONNX or TorchScript export: the description stored with the graph."""
    config = metadata.get("config")
    net_input, output = metadata["input"], metadata["output"]
    return {
        "source": str(source),
        "kind": f"{_EXPORT_NAMES.get(metadata['exported_as'], metadata['exported_as'])} export "
                f"(img2img {metadata['img2img_version']})",
        "family": metadata["family"],
        "architecture": architecture(config) if config else f"netG {metadata['network']}",
        "step": metadata.get("step"),
        "test_mode": metadata["test_mode"],
        "input": _tensor(net_input),
        "output": _tensor(output),
        "height_width": metadata["height_width"],
        "config": config,
    }


def _tensor(described: dict[str, Any]) -> str:
    """An export's input or output in words: name, shape and what its values are."""
    low, high = described["range"]
    values = described.get("encoding") or f"values in [{low:g}, {high:g}]"
    return f"{described['name']!r}, {' x '.join(map(str, described['shape']))}: {values}"


def _generator(network: str, options: dict[str, Any]) -> str:
    """A generator and its options in one line (options that are off left out)."""
    return ", ".join([f"netG {network}", *(f"{k} {v}" for k, v in options.items()
                                           if v is not False)])
