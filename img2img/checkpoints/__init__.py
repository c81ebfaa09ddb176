"""img2img checkpoint files, in one place that training, inference, export and warm starts
share: the format (:mod:`~img2img.checkpoints.format`: layout, version, checksums, file
names), reading (:mod:`~img2img.checkpoints.reader`), the layout check of saved weights
against the networks a config describes (:mod:`~img2img.checkpoints.layouts`) and writing
(:mod:`~img2img.checkpoints.writer`).

It imports neither the engine nor the model families: whoever reads a checkpoint builds its
own networks and hands them to :func:`check_layouts`.
"""

from img2img.checkpoints.format import (
    CHECKPOINT_DIR,
    CHECKSUM_ALGORITHM,
    FORMAT,
    FORMAT_VERSION,
    LATEST,
    SUFFIX,
    CheckpointError,
    RunNotStartedError,
    check_checkpoint,
    content_checksum,
    epoch_checkpoint_name,
    require_entries,
    section_checksums,
    section_names,
    step_checkpoint_name,
    verify_checksums,
)
from img2img.checkpoints.layouts import check_layouts, state_mismatch
from img2img.checkpoints.reader import (
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.checkpoints.writer import (
    CheckpointWriteError,
    keep_copy,
    prune_step_checkpoints,
    save_checkpoint,
)

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKSUM_ALGORITHM",
    "FORMAT",
    "FORMAT_VERSION",
    "LATEST",
    "SUFFIX",
    "CheckpointError",
    "RunNotStartedError",
    "CheckpointWriteError",
    "check_checkpoint",
    "check_layouts",
    "content_checksum",
    "epoch_checkpoint_name",
    "keep_copy",
    "list_checkpoints",
    "load_checkpoint",
    "prune_step_checkpoints",
    "read_checkpoint_file",
    "require_entries",
    "resolve_checkpoint",
    "save_checkpoint",
    "section_checksums",
    "section_names",
    "state_mismatch",
    "step_checkpoint_name",
    "verify_checksums",
]
