"""Score images: paired metrics over matched (output, target) images, distances between sets.

:func:`plan_metrics` decides, before any work, which metrics can run: each needs its library
and weights, and a missing one stops evaluation (or, with ``skip_missing``, is left out with
the reason recorded). :func:`score` then reads every image once per use, computes the per-image
metrics, their means and FID/KID, and returns them with the protocol that produced them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from img2img.data.evaluation import ImageRef
from img2img.data.transforms import resize_bicubic
from img2img.evaluation.distribution import (
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    InceptionFeatures,
    distribution_protocol,
    distribution_scores,
    features_of,
)
from img2img.evaluation.paired import LPIPS, l1, paired_protocol, psnr, ssim
from img2img.evaluation.weights import MissingLibraryError, MissingWeightsError, metric_libraries

log = logging.getLogger(__name__)

#: metric names, as ``--metrics`` takes them and results name them
PAIRED_METRICS = ("L1", "PSNR", "SSIM", "LPIPS")
DISTRIBUTION_METRICS = ("FID", "KID")
METRICS = PAIRED_METRICS + DISTRIBUTION_METRICS
#: whether a larger value is better, for displays
HIGHER_IS_BETTER = {"L1": False, "PSNR": True, "SSIM": True, "LPIPS": False, "FID": False,
                    "KID": False}

Progress = Callable[[str, int, int], None]


def parse_metrics(text: str | Sequence[str] | None) -> list[str]:
    """``"l1,psnr,fid"`` -> ``["L1", "PSNR", "FID"]``; None means all of :data:`METRICS`."""
    if text is None:
        return list(METRICS)
    names = text.split(",") if isinstance(text, str) else list(text)
    wanted = []
    for name in (n.strip() for n in names):
        upper = name.upper()
        if upper not in METRICS:
            raise ValueError(f"--metrics: {name!r} is not valid; expected a comma-separated "
                             f"list of: {', '.join(m.lower() for m in METRICS)}")
        if upper not in wanted:
            wanted.append(upper)
    if not wanted:
        raise ValueError("--metrics: expected at least one metric")
    return wanted


@dataclass
class MetricPlan:
    """The metrics that will run, those left out and why, and the networks they use."""

    metrics: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    lpips: LPIPS | None = None
    inception: InceptionFeatures | None = None

    @property
    def paired(self) -> list[str]:
        return [m for m in self.metrics if m in PAIRED_METRICS]

    @property
    def distribution(self) -> list[str]:
        return [m for m in self.metrics if m in DISTRIBUTION_METRICS]


def plan_metrics(
    wanted: Sequence[str], *, paired: bool, weights_dir: str | os.PathLike | None = None,
    skip_missing: bool = False, tf_compatible: bool = False,
    device: str | torch.device = "cpu",
) -> MetricPlan:
    """Check that the ``wanted`` metrics can run, and load the networks they need.

    Paired metrics need ``paired`` data. LPIPS, FID and KID need torchmetrics and
    torch-fidelity (the ``metrics`` extra) and their weights on disk.

    Raises:
        MissingWeightsError, MissingLibraryError: a metric cannot run and ``skip_missing``
            is False.
    """
    plan = MetricPlan([])
    for metric in wanted:
        if metric in PAIRED_METRICS and not paired:
            plan.skipped[metric] = "the data has no targets (unpaired)"
            continue
        try:
            if metric == "LPIPS":
                metric_libraries()
                plan.lpips = LPIPS(weights_dir, device)
            elif metric in DISTRIBUTION_METRICS and plan.inception is None:
                metric_libraries()
                plan.inception = InceptionFeatures(weights_dir, tf_compatible=tf_compatible,
                                                   device=device)
        except (MissingWeightsError, MissingLibraryError) as exc:
            if not skip_missing:
                raise
            plan.skipped[metric] = str(exc)
            continue
        plan.metrics.append(metric)
    for metric, reason in plan.skipped.items():
        log.warning("%s left out: %s", metric, reason)
    return plan


@dataclass
class Evaluation:
    """Scores, the counts behind them, the protocol, and what could not be scored.

    Attributes:
        metrics: ``L1``, ``PSNR``, ``SSIM``, ``LPIPS`` (means over images), ``FID``, ``KID``
            and ``KID_std``, for those that ran.
        counts: ``pairs`` scored, ``real`` and ``generated`` images in the sets.
        per_image: one record per scored pair: ``key``, ``output``, ``target`` and its metrics.
        failures: ``(image, reason)`` for images that could not be read or compared.
        skipped: metrics left out, with the reason.
        protocol: how every number was computed.
    """

    metrics: dict[str, float]
    counts: dict[str, int]
    per_image: list[dict[str, Any]]
    failures: list[tuple[str, str]]
    skipped: dict[str, str]
    protocol: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``inf`` PSNR of identical images becomes the string ``inf``)."""
        return {
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "counts": self.counts,
            "skipped": self.skipped,
            "failures": [{"image": i, "reason": r} for i, r in self.failures],
            "protocol": self.protocol,
            "per_image": [{k: _json_number(v) for k, v in r.items()} for r in self.per_image],
        }


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def score(
    pairs: Sequence[tuple[str, ImageRef, ImageRef]],
    generated: Sequence[ImageRef],
    real: Sequence[ImageRef],
    plan: MetricPlan,
    *,
    resize_targets: bool = False,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> Evaluation:
    """Score ``pairs`` ``(key, output, target)`` with the paired metrics of ``plan`` and the
    ``generated`` set against the ``real`` set with its distribution metrics.

    A pair whose images differ in size fails, unless ``resize_targets`` brings the target to
    the output's size (bicubic, as training data is resized). An unreadable image is recorded
    in ``failures`` and left out.
    """
    failures: list[tuple[str, str]] = []
    per_image = _score_pairs(pairs, plan, resize_targets, failures, progress)
    metrics: dict[str, float] = {}
    for name in plan.paired:
        values = [r[name] for r in per_image]
        if values:
            metrics[name] = sum(values) / len(values)
    protocol: dict[str, Any] = {}
    if plan.paired:
        protocol["paired"] = {m: d for m, d in paired_protocol().items() if m in plan.paired}
        if plan.lpips is not None:
            protocol["paired"]["LPIPS"] = plan.lpips.protocol()
        protocol["paired"]["pairs"] = len(per_image)
        if resize_targets:
            protocol["paired"]["sizes"] = ("targets of another size than the output are resized "
                                           "to it (bicubic, as training data)")
    counts = {"pairs": len(per_image), "real": 0, "generated": 0}
    if plan.distribution and plan.inception is not None:
        real_features = _features(plan.inception, real, "real", batch_size, failures, progress)
        fake_features = _features(plan.inception, generated, "generated", batch_size, failures,
                                  progress)
        counts.update(real=len(real_features), generated=len(fake_features))
        scores = distribution_scores(real_features, fake_features, kid_subsets=kid_subsets,
                                     kid_subset_size=kid_subset_size, seed=seed)
        if "FID" in plan.distribution:
            metrics["FID"] = scores.fid
        if "KID" in plan.distribution:
            metrics["KID"], metrics["KID_std"] = scores.kid, scores.kid_std
        protocol["distribution"] = distribution_protocol(
            plan.inception, scores, (len(real_features), len(fake_features)), seed)
    return Evaluation(metrics, counts, per_image, failures, dict(plan.skipped), protocol)


def _score_pairs(
    pairs: Sequence[tuple[str, ImageRef, ImageRef]], plan: MetricPlan, resize_targets: bool,
    failures: list[tuple[str, str]], progress: Progress | None,
) -> list[dict[str, Any]]:
    functions: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
        "L1": l1, "PSNR": psnr, "SSIM": ssim}
    if plan.lpips is not None:
        functions["LPIPS"] = plan.lpips
    records = []
    if not plan.paired:
        return records
    for done, (key, output_ref, target_ref) in enumerate(pairs, 1):
        try:
            output, target = output_ref.read(3), target_ref.read(3)
            if output.shape != target.shape:
                if not resize_targets:
                    raise ValueError(
                        f"sizes differ: {output_ref} is {output.shape[-1]}x{output.shape[-2]}, "
                        f"{target_ref} is {target.shape[-1]}x{target.shape[-2]}")
                target = resize_bicubic(target, tuple(output.shape[-2:]))
            record: dict[str, Any] = {"key": key, **ref_fields("output", output_ref),
                                      **ref_fields("target", target_ref)}
            for name in plan.paired:
                record[name] = functions[name](output, target)
        except (OSError, ValueError, RuntimeError) as exc:
            failures.append((str(output_ref), str(exc)))
            log.warning("not scored: %s: %s", output_ref, exc)
        else:
            records.append(record)
        if progress is not None:
            progress("paired metrics", done, len(pairs))
    return records


def ref_fields(name: str, ref: ImageRef) -> dict[str, str]:
    """``{name: path}``, plus ``{name}_half`` for half a side-by-side file."""
    fields = {name: str(ref.path)}
    if ref.half is not None:
        fields[f"{name}_half"] = ref.half
    return fields


def _features(
    extract: InceptionFeatures, images: Sequence[ImageRef], what: str, batch_size: int,
    failures: list[tuple[str, str]], progress: Progress | None,
) -> torch.Tensor:
    def readable():
        for done, ref in enumerate(images, 1):
            try:
                yield ref.read(3)
            except (OSError, ValueError) as exc:
                failures.append((str(ref), str(exc)))
                log.warning("left out of the %s set: %s: %s", what, ref, exc)
            if progress is not None:
                progress(f"Inception features ({what})", done, len(images))

    return features_of(extract, readable(), batch_size)
