"""Export an inference model to a file, then check the file against the model."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from img2img.atomic import atomic_path
from img2img.export.metadata import export_metadata
from img2img.models.finite import check_finite
from img2img.models.inference import InferenceModel
from img2img.models.released import SUFFIX as RELEASE_SUFFIX
from img2img.models.released import read_release, save_release

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript", "safetensors")
_SUFFIXES = {".onnx": "onnx", ".ts": "torchscript", ".torchscript": "torchscript",
             RELEASE_SUFFIX: "safetensors"}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and how well the file matches the model.

    Attributes:
        path: the written file.
        format: ``onnx``, ``torchscript`` or ``safetensors``.
        notes: what the exported network does differently from the model's own test mode.
        metadata: the description stored in the file.
        checks: for ONNX/TorchScript, ``(input shape, max abs difference)`` per check against
            the PyTorch network, in the network's [-1, 1] range; for safetensors the weights
            read back, with difference 0.0 when they are equal.
    """

    path: Path
    format: str
    notes: list[str]
    metadata: dict[str, Any]
    checks: list[tuple[tuple[int, ...], float]] = field(default_factory=list)

    @property
    def max_difference(self) -> float:
        return max((d for _, d in self.checks), default=0.0)


def format_for(path: str | os.PathLike, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else the one ``path``'s extension names."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"--format: {fmt!r} is not valid; expected one of: "
                             f"{', '.join(FORMATS)}")
        return fmt
    named = format_named_by(path)
    if named is None:
        suffix = Path(path).suffix.lower()
        raise ValueError(
            f"{path}: cannot tell the format from the extension {suffix or '(none)'}; pass "
            f"--format {'|'.join(FORMATS)} or use one of: {', '.join(_SUFFIXES)}"
        )
    return named


def format_named_by(path: str | os.PathLike) -> str | None:
    """The export format ``path``'s extension names (``onnx``, ``torchscript``,
    ``safetensors``), or None."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def export_model(
    model: InferenceModel,
    path: str | os.PathLike,
    fmt: str,
    *,
    opset: int | None = None,
    overwrite: bool = False,
    verify: bool = True,
) -> ExportResult:
    """Write ``model`` to ``path`` as ``fmt`` and, unless ``verify`` is False, check the file.

    ONNX and TorchScript files hold one network computing the model's test-time output
    without per-image randomness (:meth:`InferenceModel.deterministic_network`); the notes
    say what that changes. A ``.safetensors`` file holds the weights and the run's config.

    The file is written under a temp name and takes ``path`` only once it is written and
    checked: an export that fails for any reason leaves no file (and an existing ``path``
    untouched).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: an unknown format, a missing optional dependency, weights holding NaN or
            infinite values, or a check whose outputs are not finite.
    """
    path = Path(path)
    fmt = format_for(path, fmt)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a file name")
    check_finite({name: net.state_dict() for name, net in model.networks.items()},
                 getattr(model, "source", None))
    with atomic_path(path) as tmp:  # a failed export or check leaves no file behind
        result = _export(model, tmp, fmt, opset, verify, shown=path)
        result = replace(result, path=path)
    log.info("exported %s (%s), max difference %.2g", path, fmt, result.max_difference)
    return result


def _export(model: InferenceModel, path: Path, fmt: str, opset: int | None,
            verify: bool, shown: Path) -> ExportResult:
    """Write ``model`` to ``path`` (a temp name for ``shown``) and check the file against it."""
    if fmt == "safetensors":
        return _export_release(model, path, verify, shown)
    from img2img.export.onnx import DEFAULT_OPSET, example_blocks, export_onnx, onnx_runner
    from img2img.export.torchscript import export_torchscript, torchscript_runner

    net, notes = model.deterministic_network()
    net = net.cpu().float()
    multiple, min_size = model.size_multiple, model.min_size
    least, blocks = example_blocks(multiple, min_size)
    example = model.example_input(2, blocks * multiple, blocks * multiple)
    if fmt == "onnx":
        opset = opset or DEFAULT_OPSET
        metadata = export_metadata(model, fmt=fmt, notes=notes, opset=opset)
        export_onnx(net, example, path, multiple, min_size, metadata, opset)
        runner: Callable[[Tensor], Tensor] = onnx_runner(path) if verify else None
    else:
        if opset is not None:
            raise ValueError("--opset: only ONNX exports have an opset")
        metadata = export_metadata(model, fmt=fmt, notes=notes)
        export_torchscript(net, example, path, metadata)
        runner = torchscript_runner(path) if verify else None
    checks = []
    if verify:
        shapes = [(1, least * multiple, least * multiple),
                  (2, (least + 1) * multiple, least * multiple)]
        for batch, height, width in shapes:
            x = model.example_input(batch, height, width)
            with torch.no_grad():
                expected = net(x)
            checks.append((tuple(x.shape), output_difference(runner(x), expected, shown)))
    return ExportResult(path, fmt, notes, metadata, checks)


def output_difference(got: Tensor, expected: Tensor, shown: Path) -> float:
    """The largest absolute difference between an export's output and PyTorch's.

    Raises:
        ValueError: either output holds NaN or infinite values, or the shapes differ: the
            export cannot be checked, so it is refused.
    """
    if got.shape != expected.shape:
        raise ValueError(f"{shown}: the exported network's output has shape "
                         f"{tuple(got.shape)}, PyTorch's {tuple(expected.shape)}; not written")
    for what, output in (("exported network", got), ("PyTorch network", expected)):
        if not bool(torch.isfinite(output).all()):
            raise ValueError(f"{shown}: the {what}'s output on {tuple(got.shape)} holds NaN "
                             "or infinite values; not written")
    return float((got - expected).abs().max()) if got.numel() else 0.0


def _export_release(model: InferenceModel, path: Path, verify: bool,
                    shown: Path) -> ExportResult:
    networks = dict(model.networks)  # by the names the family's checkpoints use
    config = None if model.config is None else model.config.to_dict()
    save_release(path, networks, family=model.family, config=config, step=model.step)
    metadata = {"family": model.family, "config": config, "step": model.step,
                "networks": sorted(networks)}
    checks = []
    if verify:
        states, _ = read_release(path)
        for name, net in networks.items():
            ours = net.state_dict()
            same = states[name].keys() == ours.keys() and all(
                torch.equal(states[name][k], v.cpu()) for k, v in ours.items())
            if not same:
                raise ValueError(f"{shown}: the weights of {name!r} read back differ from the "
                                 "model's; not written")
        checks.append(((), 0.0))
    return ExportResult(path, "safetensors", [], metadata, checks)
