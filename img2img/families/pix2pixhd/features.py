"""pix2pixHD's instance-wise styles: per-instance encoder features, K-means centres per class,
and feature maps painted from those centres at test time.

After training with ``--instance-feat``, :func:`encode_run_features` (``img2img features RUN``)
encodes the training set with the run's encoder, keeps each instance's feature vector when the
instance covers more than about 1/64 of the image (the reference's rule: more than half of
``H * W // 32`` pixels), clusters the vectors of each class with K-means (kornia, seeded) and
stores the centres inside the checkpoint. :func:`feature_map` paints every instance of a label
map with a centre of its class: the K-th (a style) or a seeded random one.

Which class an instance belongs to follows a rule (:data:`CLASS_RULES`): ``cityscapes`` (ids of
1000 and above are ``class * 1000 + k``, smaller ids are the class itself, as in the reference)
or ``label`` (the class the label map gives most of its pixels).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from img2img.checkpoints import (
    CheckpointError,
    check_checkpoint,
    read_checkpoint_file,
    resolve_checkpoint,
    save_checkpoint,
)
from img2img.families import get_family, load_run_config
from img2img.families.pix2pixhd.builders import build_encoder
from img2img.families.pix2pixhd.networks import InstanceSegments, instance_means, instance_segments

log = logging.getLogger(__name__)

CLASS_RULES = ("cityscapes", "label")
#: Cityscapes instance ids: class * CITYSCAPES_DIVISOR + k
CITYSCAPES_DIVISOR = 1000
#: an instance is kept when its pixels exceed MIN_BLOCK_SHARE of H * W // BLOCKS (~1/64)
BLOCKS = 32
MIN_BLOCK_SHARE = 0.5
#: where the centres live in a checkpoint's ``extra``
EXTRA_KEY = "features"

Progress = Callable[[int, int], None]


def check_class_rule(rule: str) -> str:
    """``rule`` if it is one of :data:`CLASS_RULES`; else fail listing them."""
    if rule not in CLASS_RULES:
        raise ValueError(
            f"class rule: {rule!r} is not valid; expected one of: {', '.join(CLASS_RULES)}"
        )
    return rule


def instance_classes(
    segments: InstanceSegments, rule: str, labels: Tensor | None = None
) -> Tensor:
    """``[S]``: the class of every instance of ``segments`` under ``rule``.

    Args:
        segments: from :func:`~img2img.families.pix2pixhd.networks.instance_segments`.
        rule: ``cityscapes`` or ``label``.
        labels: ``[N, 1, H, W]`` class ids, needed by the ``label`` rule.
    """
    check_class_rule(rule)
    if rule == "cityscapes":
        ids = segments.ids
        return torch.where(ids >= CITYSCAPES_DIVISOR, ids // CITYSCAPES_DIVISOR, ids)
    if labels is None:
        raise ValueError("class rule 'label' needs the label maps")
    flat = labels.reshape(-1).long()
    classes = int(flat.max()) + 1 if flat.numel() else 1
    votes = torch.bincount(segments.segment.reshape(-1) * classes + flat,
                           minlength=segments.counts.numel() * classes)
    return votes.reshape(-1, classes).argmax(1)


@dataclass(frozen=True)
class FeatureClusters:
    """K-means centres of the encoder's instance features, per class.

    Attributes:
        centres: class id -> ``[k, feat_num]`` centres (k <= n_clusters).
        n_clusters: clusters asked for per class.
        class_rule: how instance ids map to classes (:data:`CLASS_RULES`).
        step: the training step of the encoder that made them.
        seed: the K-means seed.
        instances: class id -> instances the centres were fitted to.
    """

    centres: dict[int, Tensor]
    n_clusters: int
    class_rule: str
    step: int
    seed: int = 0
    instances: dict[int, int] = dataclasses.field(default_factory=dict)

    @property
    def styles(self) -> int:
        """Distinct styles: the most centres any class has."""
        return max((c.shape[0] for c in self.centres.values()), default=0)

    def to_state(self) -> dict[str, Any]:
        """Plain types and tensors, for a checkpoint."""
        return {
            "centres": {int(k): v.float().cpu() for k, v in self.centres.items()},
            "n_clusters": self.n_clusters,
            "class_rule": self.class_rule,
            "step": self.step,
            "seed": self.seed,
            "instances": {int(k): int(v) for k, v in self.instances.items()},
        }

    def to_json(self) -> dict[str, Any]:
        """:meth:`to_state` in JSON types (centres as nested lists), for export metadata."""
        state = self.to_state()
        state["centres"] = {str(k): v.tolist() for k, v in state["centres"].items()}
        state["instances"] = {str(k): v for k, v in state["instances"].items()}
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FeatureClusters:
        """The centres of :meth:`to_state` or :meth:`to_json`."""
        return cls(
            centres={int(k): torch.as_tensor(v, dtype=torch.float32)
                     for k, v in state["centres"].items()},
            n_clusters=int(state["n_clusters"]),
            class_rule=check_class_rule(state["class_rule"]),
            step=int(state["step"]),
            seed=int(state.get("seed", 0)),
            instances={int(k): int(v) for k, v in state.get("instances", {}).items()},
        )


def large_instances(segments: InstanceSegments, height: int, width: int) -> Tensor:
    """``[S]`` bool: instances covering more than about 1/64 of their image (the reference)."""
    return segments.counts.double() / (height * width // BLOCKS) > MIN_BLOCK_SHARE


def instance_features(
    features: Tensor, instances: Tensor, rule: str, labels: Tensor | None = None
) -> dict[int, Tensor]:
    """Class id -> ``[M, C]`` mean features of the large instances of one batch.

    Args:
        features: the encoder's output ``[N, C, H, W]``.
        instances: ``[N, 1, H, W]`` instance ids.
        rule: the class rule.
        labels: ``[N, 1, H, W]`` class ids (for the ``label`` rule).
    """
    segments = instance_segments(instances)
    keep = large_instances(segments, *features.shape[-2:])
    means = instance_means(features, segments)[keep].cpu()
    classes = instance_classes(segments, rule, labels)[keep].cpu()
    return {int(c): means[classes == c] for c in torch.unique(classes).tolist()}


#: K-means runs from different k-means++ starts; the one with the lowest inertia is kept
KMEANS_RESTARTS = 10


def _kmeans_plus_plus(points: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ starting centres: each next one drawn with probability ~ squared distance."""
    first = int(torch.randint(points.shape[0], (1,), generator=generator))
    centres = [points[first]]
    nearest = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        weights = nearest if nearest.sum() > 0 else torch.ones_like(nearest)
        pick = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(points[pick])
        nearest = torch.minimum(nearest, ((points - points[pick]) ** 2).sum(1))
    return torch.stack(centres)


def kmeans_centres(points: Tensor, n_clusters: int, seed: int) -> Tensor:
    """``[min(n_clusters, M), C]`` K-means centres of ``points`` ``[M, C]``.

    Kornia's K-means, started :data:`KMEANS_RESTARTS` times from seeded k-means++ centres (as
    scikit-learn's ``KMeans``, which the reference uses); the run with the smallest sum of
    squared distances wins. The global random state is left as it was.
    """
    from kornia.contrib import KMeans

    data = points.double()
    k = min(n_clusters, data.shape[0])
    generator = torch.Generator().manual_seed(seed)
    best, best_inertia = data[:k], float("inf")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # kornia moves empty clusters with the global generator
        for _ in range(KMEANS_RESTARTS):
            kmeans = KMeans(k, _kmeans_plus_plus(data, k, generator), tolerance=1e-8,
                            max_iterations=300)
            kmeans.fit(data)
            centres = kmeans.cluster_centers
            inertia = float(torch.cdist(data, centres).min(1).values.pow(2).sum())
            if inertia < best_inertia:
                best, best_inertia = centres, inertia
    return best.float()


def cluster_features(
    by_class: Mapping[int, Tensor], n_clusters: int = 10, seed: int = 0
) -> dict[int, Tensor]:
    """Class id -> K-means centres of its feature vectors (classes without vectors left out)."""
    if n_clusters < 1:
        raise ValueError(f"--clusters: {n_clusters!r} is not valid; expected >= 1")
    return {c: kmeans_centres(points, n_clusters, seed + c)
            for c, points in sorted(by_class.items()) if points.shape[0]}


def feature_map(
    instances: Tensor,
    clusters: FeatureClusters,
    styles: Sequence[int | None],
    generators: Sequence[torch.Generator | None],
    labels: Tensor | None = None,
) -> Tensor:
    """``[N, feat_num, H, W]``: every instance painted with a centre of its class.

    Args:
        instances: ``[N, 1, H, W]`` instance ids.
        clusters: the centres.
        styles: per image, the centre index K (``K % centres`` for classes with fewer), or
            None for a random centre per instance drawn from that image's generator.
        generators: per image, the generator of random styles (None where a style is given).
        labels: ``[N, 1, H, W]`` class ids (for the ``label`` rule).

    Instances of classes without centres get zero features.
    """
    n, _, h, w = instances.shape
    feat_num = next(iter(clusters.centres.values())).shape[1]
    segments = instance_segments(instances)
    classes = instance_classes(segments, clusters.class_rule, labels).tolist()
    images = segments.image.tolist()
    rows = torch.zeros(len(classes), feat_num)
    for row, (image, cls) in enumerate(zip(images, classes, strict=True)):
        centres = clusters.centres.get(int(cls))
        if centres is None:
            continue
        style = styles[image]
        if style is None:
            pick = int(torch.randint(centres.shape[0], (1,), generator=generators[image]))
        else:
            pick = style % centres.shape[0]
        rows[row] = centres[pick]
    painted = rows.to(instances.device)[segments.segment.reshape(-1)]
    return painted.reshape(n, h, w, feat_num).permute(0, 3, 1, 2).contiguous()


def stored_clusters(extra: Mapping[str, Any]) -> FeatureClusters | None:
    """The centres a checkpoint's (or an export's) ``extra`` holds, if any."""
    state = extra.get(EXTRA_KEY)
    return None if state is None else FeatureClusters.from_state(state)


def exported_clusters(clusters: FeatureClusters | None) -> dict[str, Any]:
    """The ``extra`` an export carries for ``clusters``, in JSON types (none: empty);
    :func:`stored_clusters` reads it back."""
    return {} if clusters is None else {EXTRA_KEY: clusters.to_json()}


@dataclass(frozen=True)
class FeaturesResult:
    """What :func:`encode_run_features` did."""

    checkpoint: Path
    clusters: FeatureClusters
    images: int
    skipped: list[str]


def encode_run_features(
    path: str | os.PathLike[str],
    *,
    n_clusters: int = 10,
    seed: int = 0,
    class_rule: str = "cityscapes",
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> FeaturesResult:
    """Encode a run's training set, cluster the instance features, store the centres.

    The checkpoint (a run's ``latest.pt`` or the file given) is rewritten atomically with the
    centres in ``extra["features"]``; training state is kept, so the run can still resume.
    The training images are read whole (no random crop or flip) at the run's load size.

    Raises:
        CheckpointError: not a pix2pixHD checkpoint with a feature encoder, or one that already
            holds centres (unless ``overwrite``).
        ValueError: a bad option.
    """
    check_class_rule(class_rule)
    if n_clusters < 1:
        raise ValueError(f"--clusters: {n_clusters!r} is not valid; expected >= 1")
    file = resolve_checkpoint(path)
    data = check_checkpoint(read_checkpoint_file(file), file)
    config = load_run_config(data["config"])
    if "E" not in data["nets"]:
        raise CheckpointError(
            f"{file}: a {config.family} run without a feature encoder; expected a pix2pixhd "
            "run trained with --instance-feat"
        )
    if EXTRA_KEY in data.get("extra", {}) and not overwrite:
        raise CheckpointError(
            f"{file}: already holds feature centres; pass --overwrite to replace them"
        )
    encoder = build_encoder(config.model)
    encoder.load_state_dict(data["nets"]["E"])
    encoder.to(device).eval()
    dataset = get_family(config.family).description_class().build_feature_dataset(config)
    by_class: dict[int, list[Tensor]] = {}
    with torch.inference_mode():
        for i in range(len(dataset)):
            sample = dataset[i]
            image = sample["image"][None].to(device)
            instances = sample["instance"][None].to(device)
            labels = sample["label"][None].to(device) if class_rule == "label" else None
            found = instance_features(encoder(image), instances, class_rule, labels)
            for cls, vectors in found.items():
                by_class.setdefault(cls, []).append(vectors)
            if progress is not None:
                progress(i + 1, len(dataset))
    points = {c: torch.cat(v) for c, v in by_class.items()}
    clusters = FeatureClusters(
        centres=cluster_features(points, n_clusters, seed),
        n_clusters=n_clusters, class_rule=class_rule, step=int(data["step"]), seed=seed,
        instances={c: int(p.shape[0]) for c, p in points.items()},
    )
    if not clusters.centres:
        raise ValueError(
            f"{file}: no instance of the training set covers more than 1/64 of its image; "
            "nothing to cluster"
        )
    data.setdefault("extra", {})[EXTRA_KEY] = clusters.to_state()
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    save_checkpoint(file, payload)
    log.info("feature centres of %d classes stored in %s", len(clusters.centres), file)
    return FeaturesResult(file, clusters, len(dataset), [str(p) for p in dataset.skipped])
