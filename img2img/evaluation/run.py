"""Evaluate a model on a dataset split, or score two folders of images.

:func:`evaluate_model` translates a split's inputs exactly as ``img2img translate`` would (the
model's own test-time mode, per-image seeds, padding), keeps the outputs under
``<eval dir>/<phase>/``, scores them against the split's targets and real images, and writes
everything with its protocol to ``<eval dir>/<phase>.json``. For a run, the eval dir is the
run's ``eval/``. :func:`evaluate_folders` scores a folder of outputs against a folder of real
images, paired by relative path and stem where they match and as two sets otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2img import __version__
from img2img.atomic import atomic_write
from img2img.checkpoints import CHECKPOINT_DIR
from img2img.config import DataConfig
from img2img.data.evaluation import EvalSplit, ImageRef, pair_folders
from img2img.engine.rundir import CONFIG_FILE
from img2img.evaluation.score import Evaluation, MetricPlan, Progress, ref_fields, score
from img2img.families import get_family
from img2img.infer.plan import Job
from img2img.infer.resizing import Resizing, run_resizing
from img2img.infer.translate import Translatable, translate_files
from img2img.models.inference import InferenceModel
from img2img.models.onnx_runtime import OnnxModel

log = logging.getLogger(__name__)

#: a run's evaluation folder
EVAL_DIR = "eval"
OUTPUT_EXT = ".png"


def run_dir_of(source: Path | None) -> Path | None:
    """The run directory a model file belongs to (``RUN/checkpoints/x.pt`` -> ``RUN``)."""
    if source is None:
        return None
    source = Path(source)
    for candidate in (source, *source.parents[:2]):
        if (candidate / CONFIG_FILE).is_file() and (candidate / CHECKPOINT_DIR).is_dir():
            return candidate
    return None


def default_eval_dir(model: Translatable) -> Path:
    """``RUN/eval`` for a model of a run; otherwise ``--out`` is needed."""
    run = run_dir_of(getattr(model, "source", None))
    if run is None:
        raise ValueError(
            f"{getattr(model, 'source', 'the model')} is not part of a run directory; pass "
            "--out DIR for the outputs and results"
        )
    return run / EVAL_DIR


def evaluation_data(model: Translatable, root: str | None, phase: str,
                    direction: str | None) -> DataConfig:
    """The split to evaluate: ``root`` or the run's own dataset, its direction unless given."""
    config = getattr(model, "config", None)
    if root is None:
        if config is None:
            raise ValueError("--data is required for a model without a run configuration")
        root = config.data.root
    if direction is None:
        direction = config.data.direction if config is not None else "AtoB"
    return DataConfig(root=str(root), phase=phase, direction=direction)


def _family_model(model: Translatable) -> InferenceModel:
    """The family's own inference model: an export's reads and encodes its inputs."""
    return model.reference if isinstance(model, OnnxModel) else model


def evaluation_model(model: Translatable, data: DataConfig) -> Translatable:
    """``model`` as it translates ``data``'s split (its family may point it at the split's
    companion files, such as pix2pixHD's instance maps; an export keeps its graph)."""
    description = get_family(model.family).description_class()
    own = description.evaluation_model(_family_model(model), data)
    return model.with_reference(own) if isinstance(model, OnnxModel) else own


def evaluation_split(model: Translatable, data: DataConfig, limit: int | None) -> EvalSplit:
    """The family's :class:`EvalSplit` of ``data`` for ``model`` (its first ``limit`` examples)."""
    description = get_family(model.family).description_class()
    split = description.evaluation_split(data, _family_model(model)).head(limit)
    if not split.examples:
        raise ValueError(f"{data.root} [{data.phase}]: no images to evaluate")
    return split


@dataclass(frozen=True)
class ModelEvaluation:
    """What :func:`evaluate_model` did: the scores, where the outputs and the record are."""

    evaluation: Evaluation
    record: dict[str, Any]
    outputs: Path
    record_path: Path


def prepare_outputs(outputs: Path, *, replace: bool, overwrite: bool) -> None:
    """Make ``outputs`` ready: a previous evaluation's folder is replaced when ``replace``; a
    folder of other files is refused unless ``overwrite``."""
    if outputs.exists():
        if replace:
            shutil.rmtree(outputs)
        elif any(outputs.iterdir()) and not overwrite:
            raise FileExistsError(f"{outputs} is not empty; pass --overwrite to write into it")
    outputs.mkdir(parents=True, exist_ok=True)


def evaluate_model(
    model: Translatable,
    split: EvalSplit,
    plan: MetricPlan,
    eval_dir: str | os.PathLike,
    phase: str,
    *,
    batch_size: int = 8,
    device: Any = "cpu",
    precision: str = "fp32",
    num_threads: int = 2,
    replace: bool = True,
    overwrite: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    resizing: Resizing | None = None,
    **score_options: Any,
) -> ModelEvaluation:
    """Translate ``split`` with ``model`` into ``eval_dir/phase/``, score, and record.

    ``plan`` comes from :func:`~img2img.evaluation.score.plan_metrics`, made before this call
    so that missing weights stop evaluation before anything is translated. Inputs are
    resized as ``translate`` resizes them (``resizing``; default: the run's training
    preprocess, :func:`~img2img.infer.resizing.run_resizing`).
    """
    if resizing is None:
        resizing = run_resizing(getattr(model, "config", None))
    eval_dir = Path(eval_dir)
    outputs = eval_dir / phase
    prepare_outputs(outputs, replace=replace, overwrite=overwrite)
    jobs = [Job(e.input, outputs / Path(e.key).with_suffix(OUTPUT_EXT), e.key)
            for e in split.examples]
    step: Callable[[int, int], None] | None = None
    if progress is not None:
        step = lambda done, total: progress("translating", done, total)  # noqa: E731
    summary = translate_files(model, jobs, batch_size=batch_size, device=device,
                              precision=precision, overwrite=True, num_threads=num_threads,
                              side=split.input_half, progress=step, resizing=resizing)
    failed = {str(path) for path, _ in summary.failed}
    done = [(e, job) for e, job in zip(split.examples, jobs, strict=True)
            if str(job.src) not in failed]
    pairs = [(e.key, ImageRef(job.dst), e.target) for e, job in done if e.target is not None]
    evaluation = score(pairs, [ImageRef(job.dst) for _, job in done], split.references, plan,
                       resize_targets=True, seed=seed, batch_size=batch_size,
                       progress=progress, **score_options)
    evaluation.failures[:0] = [(str(p), f"translate: {r}") for p, r in summary.failed]
    inputs = {e.key: ImageRef(e.input, split.input_half) for e in split.examples}
    for item in evaluation.per_image:
        item.update(ref_fields("input", inputs[item["key"]]))
    record = {
        "phase": phase,
        "data": split.description,
        "model": model.describe(),
        "translate": {"written": summary.written, "failed": len(summary.failed),
                      "test_mode": summary.test_mode, "resizing": resizing.describe(),
                      "seconds": round(summary.seconds, 3)},
        "outputs": str(outputs),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "img2img_version": __version__,
        **evaluation.to_dict(),
    }
    record_path = eval_dir / f"{phase}.json"
    write_record(record_path, record)
    return ModelEvaluation(evaluation, record, outputs, record_path)


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write an evaluation record as JSON, atomically."""
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text), mode="w")
    log.info("evaluation written: %s", path)


def evaluate_folders(
    real_dir: str | os.PathLike,
    fake_dir: str | os.PathLike,
    plan_for: Callable[[bool], MetricPlan],
    *,
    progress: Progress | None = None, **score_options: Any,
) -> tuple[Evaluation, dict[str, Any]]:
    """Score the images of ``fake_dir`` against ``real_dir``.

    Images with the same relative path and stem are pairs (paired metrics); all images of each
    folder form the two sets (FID, KID). ``plan_for(paired)`` makes the metric plan once the
    folders are known to hold pairs or not. A real image of another size than its output is
    resized to it (bicubic, as training data is): ``translate`` writes a run's outputs at the
    size it was trained at.
    """
    found = pair_folders(real_dir, fake_dir)
    plan = plan_for(bool(found.pairs))
    pairs = [(k, ImageRef(fake), ImageRef(real)) for k, real, fake in found.pairs]
    evaluation = score(pairs, [ImageRef(p) for p in found.fakes],
                       [ImageRef(p) for p in found.reals], plan, progress=progress,
                       resize_targets=True, **score_options)  # outputs at a run's test size
    record = {
        "real": str(real_dir),
        "generated": str(fake_dir),
        "unpaired": {"real": len(found.reals) - len(found.pairs),
                     "generated": len(found.fakes) - len(found.pairs)},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "img2img_version": __version__,
        **evaluation.to_dict(),
    }
    return evaluation, record
