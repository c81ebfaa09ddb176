"""Writing checkpoint files: atomically, with the format's keys and checksums, and the copies
a run keeps of them (``step_00001000.pt``, ``epoch_0005.pt``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from img2img.atomic import atomic_link, atomic_write
from img2img.checkpoints.format import (
    CHECKSUM_ALGORITHM,
    FORMAT,
    FORMAT_VERSION,
    STEP_FILE,
    section_checksums,
)


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (disk full, file-size limit, read-only folder).

    The file at the target path, if there was one, is unchanged.
    """


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (without format keys) to ``path`` atomically and return the path.

    Tensors are moved to the CPU first and a checksum of every section is recorded.

    Raises:
        CheckpointWriteError: the file could not be written; ``path`` is unchanged.
    """
    path = Path(path)
    payload = _to_cpu(payload)
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **payload,
        "checksums": {"algorithm": CHECKSUM_ALGORITHM, "sections": section_checksums(payload)},
    }
    try:
        atomic_write(path, lambda f: torch.save(data, f), sync_dir=True)
    except (OSError, RuntimeError) as exc:
        reason = _write_failure(exc)
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {reason}") from exc
    return path


def _write_failure(exc: BaseException) -> str:
    """Why a write failed, in words: the OSError behind torch's writer error if there is one."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror + _limit_hint(cause.errno)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _limit_hint(errno_value: int | None) -> str:
    import errno

    if errno_value == errno.EFBIG:
        return " (the file-size limit, ulimit -f, is smaller than the checkpoint)"
    if errno_value in (errno.ENOSPC, errno.EDQUOT):
        return " (free some space, or write the run to another disk)"
    return ""


def _to_cpu(value: Any) -> Any:
    """``value`` with every tensor on the CPU (copied only where it was elsewhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        out = type(value)((k, _to_cpu(v)) for k, v in value.items())
        metadata = getattr(value, "_metadata", None)  # state_dict versions
        if metadata is not None:
            out._metadata = metadata
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def keep_copy(checkpoint: str | os.PathLike, name: str) -> Path:
    """Keep the finished ``checkpoint`` also as ``name`` in its folder (atomically)."""
    checkpoint = Path(checkpoint)
    return atomic_link(checkpoint, checkpoint.with_name(name), sync_dir=True)


def prune_step_checkpoints(directory: str | os.PathLike, keep: int) -> list[Path]:
    """Delete the step-named checkpoints in ``directory`` beyond the newest ``keep``.

    Returns the deleted files. ``latest.pt``, epoch-named and other files are never touched.
    """
    steps = sorted(
        (int(m.group(1)), p)
        for p in Path(directory).iterdir()
        if (m := STEP_FILE.match(p.name)) and p.is_file()
    )
    doomed = [p for _, p in steps[: max(0, len(steps) - keep)]]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed
