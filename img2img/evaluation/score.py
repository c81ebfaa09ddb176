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
from pathlib import Path
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
from img2img.evaluation.weights import (
    MissingLibraryError,
    MissingWeightsError,
    WeightsFile,
    alexnet_weights,
    inception_weights,
    local_weights,
    metric_libraries,
    missing_message,
)
from img2img.hub.download import DownloadError

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


#: ``fetch(weights) -> file``: download a missing weights file (the CLI asks first on a terminal)
Fetch = Callable[[WeightsFile], Path]


def plan_metrics(
    wanted: Sequence[str], *, paired: bool, weights_dir: str | os.PathLike | None = None,
    skip_missing: bool = False, tf_compatible: bool = False,
    device: str | torch.device = "cpu", fetch: Fetch | None = None,
) -> MetricPlan:
    """Check that the ``wanted`` metrics can run, and load the networks they need.

    Paired metrics need ``paired`` data. LPIPS, FID and KID need torchmetrics and
    torch-fidelity (the ``metrics`` extra) and their weights: found on disk, else downloaded
    by ``fetch`` (unless ``skip_missing``). A metric whose weights cannot be had (``fetch``
    failed: offline, declined ...; or ``skip_missing``) is left out, with the reason, and
    the others run.

    Raises:
        MissingWeightsError: weights are missing, there is no ``fetch`` and ``skip_missing``
            is False.
        MissingLibraryError: a library is missing and ``skip_missing`` is False.
    """
    plan = MetricPlan([])
    unavailable: dict[str, str] = {}  # weights key -> why it cannot be had (asked once)
    for metric in wanted:
        if metric in PAIRED_METRICS and not paired:
            plan.skipped[metric] = "the data has no targets (unpaired)"
            continue
        try:
            if metric == "LPIPS":
                metric_libraries()
                folder = _weights_folder(alexnet_weights(), weights_dir, skip_missing, fetch,
                                         unavailable)
                plan.lpips = LPIPS(folder, device)
            elif metric in DISTRIBUTION_METRICS and plan.inception is None:
                metric_libraries()
                folder = _weights_folder(inception_weights(), weights_dir, skip_missing, fetch,
                                         unavailable)
                plan.inception = InceptionFeatures(folder, tf_compatible=tf_compatible,
                                                   device=device)
        except MissingWeightsError as exc:
            if not skip_missing and fetch is None:
                raise
            plan.skipped[metric] = str(exc)
            continue
        except MissingLibraryError as exc:
            if not skip_missing:
                raise
            plan.skipped[metric] = str(exc)
            continue
        plan.metrics.append(metric)
    for reason, metrics in skipped_by_reason(plan.skipped).items():
        log.info("%s left out: %s", ", ".join(metrics), reason)
    return plan


def _weights_folder(weights: WeightsFile, weights_dir: str | os.PathLike | None,
                    skip_missing: bool, fetch: Fetch | None, unavailable: dict[str, str]) -> Path:
    """The folder holding ``weights`` (downloaded now by ``fetch`` if missing).

    Raises:
        MissingWeightsError: it is missing and is not downloaded (``skip_missing``, no
            ``fetch``) or could not be; the reason is remembered in ``unavailable``.
    """
    if weights.key in unavailable:
        raise MissingWeightsError(unavailable[weights.key])
    found = local_weights(weights, weights_dir)
    if found is not None:
        return found.parent
    reason = missing_message(weights, weights_dir)
    if skip_missing:
        reason += " (not downloaded: --skip-missing)"
    elif fetch is not None:
        try:
            return fetch(weights).parent
        except (DownloadError, MissingWeightsError) as exc:
            reason = f"{weights.name} ({weights.what}) could not be downloaded: {exc}"
    unavailable[weights.key] = reason
    raise MissingWeightsError(reason)


def skipped_by_reason(skipped: dict[str, str]) -> dict[str, list[str]]:
    """``{metric: reason}`` as ``{reason: [metrics]}``: each reason once, in order."""
    grouped: dict[str, list[str]] = {}
    for metric, reason in skipped.items():
        grouped.setdefault(reason, []).append(metric)
    return grouped


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
