"""Describe a checkpoint or run directory without building any network."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from img2img.checkpoints import (
    CHECKPOINT_DIR,
    LATEST,
    CheckpointError,
    check_checkpoint,
    list_checkpoints,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.engine.rundir import CONFIG_FILE


def architecture(config: dict[str, Any]) -> str:
    """The main architecture options of a run config, in one line."""
    model = config.get("model", {})
    parts = [f"{k} {model[k]}" for k in ("netG", "netD", "ngf", "ndf", "norm") if k in model]
    return ", ".join(parts)


def parameter_counts(nets: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Learned parameters of each network's ``state_dict`` (normalisation statistics left out)."""
    return {
        name: sum(t.numel() for k, t in state.items()
                  if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
        for name, state in nets.items()
    }


def run_checkpoints(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every checkpoint a run directory holds: ``name``, ``step`` and ``epoch``, by step.

    A file that cannot be read is listed with ``step`` None and the reason in ``error``.
    """
    entries = []
    for file in list_checkpoints(Path(run_dir) / CHECKPOINT_DIR):
        try:
            data = check_checkpoint(read_checkpoint_file(file, mmap=True), file)
        except CheckpointError as exc:
            entries.append({"name": file.name, "step": None, "epoch": None, "error": str(exc)})
            continue
        entries.append({"name": file.name, "step": data.get("step"), "epoch": data.get("epoch")})
    return sorted(entries, key=lambda e: (e["step"] is None, e["step"] or 0, e["name"]))


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Family, architecture, step, parameter counts and config of a checkpoint or run.

    For a run directory, ``checkpoints`` also lists the checkpoint files it holds (see
    :func:`run_checkpoints`), any of which ``translate --model`` accepts.
    """
    path = Path(path)
    details = _describe(path)
    if path.is_dir():
        details["checkpoints"] = run_checkpoints(path)
    return details


def _describe(path: Path) -> dict[str, Any]:
    if path.is_dir() and not (path / CHECKPOINT_DIR / LATEST).is_file():
        config_file = path / CONFIG_FILE
        if not config_file.is_file():
            raise CheckpointError(
                f"{path}: not a run directory (no {CONFIG_FILE}) nor a checkpoint"
            )
        config = json.loads(config_file.read_text(encoding="utf-8"))
        return {
            "source": str(path),
            "family": config["family"],
            "step": 0,
            "architecture": architecture(config),
            "config": config,
        }
    file = resolve_checkpoint(path)
    data = check_checkpoint(read_checkpoint_file(file, mmap=True), file)
    return {
        "source": str(file),
        "family": data["family"],
        "architecture": architecture(data["config"]),
        "step": data["step"],
        "epoch": data["epoch"],
        "format_version": data["format_version"],
        "parameters": parameter_counts(data["nets"]),
        "config": data["config"],
    }
