"""Instance features and styles: class rules, the 1/64 size rule, seeded K-means, painting."""

from __future__ import annotations

import io

import pytest
import torch

from img2img.families.pix2pixhd.features import (
    FeatureClusters,
    cluster_features,
    feature_map,
    instance_classes,
    instance_features,
    kmeans_centres,
    large_instances,
)
from img2img.families.pix2pixhd.networks import instance_segments


def _map() -> torch.Tensor:
    """One 16x16 map: road (7) everywhere, car 26001 (64 px), car 26002 (3 px), pole 17 (4 px)."""
    ids = torch.full((1, 1, 16, 16), 7, dtype=torch.int64)
    ids[0, 0, :8, :8] = 26001
    ids[0, 0, 10, 10:13] = 26002
    ids[0, 0, 14:, 14:] = 17
    return ids


def test_cityscapes_rule_divides_ids_of_1000_and_more() -> None:
    classes = instance_classes(instance_segments(_map()), "cityscapes")
    assert classes.tolist() == [7, 17, 26, 26]


def test_label_rule_takes_the_majority_class_under_each_instance() -> None:
    ids = _map()
    labels = torch.where(ids >= 1000, ids // 1000, ids)
    labels[0, 0, 0, 0] = 5  # one stray pixel does not change the majority
    assert instance_classes(instance_segments(ids), "label", labels).tolist() == [7, 17, 26, 26]
    with pytest.raises(ValueError, match="needs the label maps"):
        instance_classes(instance_segments(ids), "label")
    with pytest.raises(ValueError, match="class rule: 'x'"):
        instance_classes(instance_segments(ids), "x")


def test_instances_larger_than_a_64th_of_the_image_are_kept() -> None:
    # 16x16 = 256 px: kept when count > 0.5 * (256 // 32) = 4 pixels
    ids = _map()
    ids[0, 0, 14, 0:5] = 26003  # 5 px: kept
    ids[0, 0, 15, 0:4] = 26004  # 4 px: dropped
    segments = instance_segments(ids)
    kept = dict(zip(segments.ids.tolist(), large_instances(segments, 16, 16).tolist(),
                    strict=True))
    assert kept == {7: True, 17: False, 26001: True, 26002: False, 26003: True, 26004: False}


def test_instance_features_group_means_by_class() -> None:
    features = torch.zeros(1, 2, 16, 16)
    features[0, :, :8, :8] = torch.tensor([1.0, 2.0])[:, None, None]
    found = instance_features(features, _map(), "cityscapes")
    assert set(found) == {7, 26}
    torch.testing.assert_close(found[26], torch.tensor([[1.0, 2.0]]))
    assert found[7].shape == (1, 2)


def test_kmeans_is_seeded_finds_separated_clusters_and_keeps_the_global_rng() -> None:
    g = torch.Generator().manual_seed(0)
    blobs = torch.cat([torch.randn(30, 3, generator=g) * 0.05 + c for c in (-1.0, 0.0, 2.0)])
    state = torch.random.get_rng_state()
    a, b = kmeans_centres(blobs, 3, seed=4), kmeans_centres(blobs, 3, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b)
    assert sorted(round(v) for v in a.mean(1).tolist()) == [-1, 0, 2]
    assert kmeans_centres(blobs[:2], 10, seed=0).shape == (2, 3)  # never more than points


def test_cluster_features_per_class() -> None:
    points = {3: torch.randn(20, 3), 5: torch.randn(1, 3), 9: torch.zeros(0, 3)}
    centres = cluster_features(points, n_clusters=4, seed=0)
    assert {k: tuple(v.shape) for k, v in centres.items()} == {3: (4, 3), 5: (1, 3)}
    with pytest.raises(ValueError, match="--clusters: 0"):
        cluster_features(points, n_clusters=0)


def _clusters() -> FeatureClusters:
    centres = {7: torch.tensor([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]),
               26: torch.tensor([[1.0, 1.0]])}
    return FeatureClusters(centres, n_clusters=3, class_rule="cityscapes", step=5,
                           instances={7: 9, 26: 1})


def test_feature_map_paints_the_kth_centre_of_each_class() -> None:
    clusters = _clusters()
    painted = feature_map(_map(), clusters, styles=[2], generators=[None])
    assert painted.shape == (1, 2, 16, 16)
    assert painted[0, :, 15, 0].tolist() == pytest.approx([0.3, 0.3])  # road: style 2
    assert painted[0, :, 0, 0].tolist() == [1.0, 1.0]  # cars: 2 % 1 centre -> the only one
    assert painted[0, :, 15, 15].tolist() == [0.0, 0.0]  # poles have no centres
    assert clusters.styles == 3


def test_random_styles_depend_on_the_image_generator_only() -> None:
    clusters = _clusters()
    ids = torch.cat([_map(), _map()])
    def gens(*seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]
    both = feature_map(ids, clusters, [None, None], gens(1, 2))
    alone = feature_map(_map(), clusters, [None], gens(2))
    assert torch.equal(both[1:], alone)
    picks = {tuple(feature_map(_map(), clusters, [None], gens(s))[0, :, 15, 0].tolist())
             for s in range(12)}
    assert len(picks) > 1  # the road's style varies with the seed


def test_clusters_round_trip_through_a_weights_only_checkpoint() -> None:
    buffer = io.BytesIO()
    torch.save({"extra": {"features": _clusters().to_state()}}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["extra"]["features"]
    back = FeatureClusters.from_state(state)
    assert back.class_rule == "cityscapes" and back.step == 5 and back.instances == {7: 9, 26: 1}
    assert all(torch.equal(back.centres[k], v) for k, v in _clusters().centres.items())
