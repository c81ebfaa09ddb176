"""EpochSampler and make_loader: order and seeds are pure functions of (seed, epoch, position)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from img2img.config import DataConfig
from img2img.data.dataset import PairedImageDataset
from img2img.data.sampler import EpochSampler, make_loader, worker_init
from img2img.prep.edges import edges_from_photo


def test_epoch_is_a_permutation_and_repeatable() -> None:
    first = list(EpochSampler(50, seed=3))
    again = list(EpochSampler(50, seed=3))
    assert first == again
    assert sorted(i for i, _ in first) == list(range(50))
    assert [i for i, _ in first] != list(range(50))
    assert len({s for _, s in first}) == 50 and all(0 <= s < 2**63 for _, s in first)


def test_epochs_and_seeds_differ() -> None:
    sampler = EpochSampler(50, seed=3)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert [i for i, _ in epoch0] != [i for i, _ in epoch1]
    assert not {s for _, s in epoch0} & {s for _, s in epoch1}
    assert list(EpochSampler(50, seed=4)) != epoch0
    sampler.set_epoch(0)
    assert list(sampler) == epoch0


def test_no_shuffle_keeps_order_but_seeds_vary() -> None:
    items = list(EpochSampler(5, seed=0, shuffle=False))
    assert [i for i, _ in items] == [0, 1, 2, 3, 4]
    assert len({s for _, s in items}) == 5


def test_start_offset_reproduces_the_tail() -> None:
    sampler = EpochSampler(20, seed=9)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_start(7)
    assert len(sampler) == 13 and list(sampler) == full[7:]
    sampler.set_epoch(2)  # same epoch: the offset stays
    assert list(sampler) == full[7:]
    sampler.set_epoch(3)  # a new epoch starts from its beginning
    assert len(sampler) == 20
    sampler.set_start(24)  # a partial last batch counted as full: nothing left, no error
    assert len(sampler) == 0 and list(sampler) == []
    with pytest.raises(ValueError, match="start position -1"):
        sampler.set_start(-1)


def test_global_rng_untouched() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    list(EpochSampler(100, seed=1))
    assert torch.equal(torch.get_rng_state(), state)


def test_replicas_split_the_epoch() -> None:
    single = [i for i, _ in EpochSampler(12, seed=2)]
    shards = [list(EpochSampler(12, seed=2, num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(i for shard in shards for i, _ in shard) == list(range(12))
    assert [shard[0][0] for shard in shards] == single[:3]  # interleaved like one big epoch
    seeds = [s for shard in shards for _, s in shard]
    assert len(set(seeds)) == 12


def test_replicas_pad_or_drop() -> None:
    padded = [list(EpochSampler(10, seed=0, num_replicas=4, rank=r)) for r in range(4)]
    assert [len(p) for p in padded] == [3, 3, 3, 3]
    assert {i for p in padded for i, _ in p} == set(range(10))
    dropped = [
        list(EpochSampler(10, seed=0, num_replicas=4, rank=r, drop_last=True)) for r in range(4)
    ]
    assert [len(p) for p in dropped] == [2, 2, 2, 2]
    assert len({i for p in dropped for i, _ in p}) == 8
    with pytest.raises(ValueError, match="rank"):
        EpochSampler(10, num_replicas=2, rank=2)


def _dataset(root: Path, count: int = 6) -> PairedImageDataset:
    rng = np.random.default_rng(0)
    (root / "train").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (20, 40, 3), dtype=np.uint8)).save(
            root / "train" / f"{i}.png"
        )
    cfg = DataConfig(root=str(root), load_size=20, crop_size=16, num_workers=0)
    return PairedImageDataset(cfg)


def _epoch(loader: torch.utils.data.DataLoader) -> list[tuple[list[str], torch.Tensor]]:
    return [(batch["key"], batch["A"]) for batch in loader]


def test_loader_same_with_and_without_workers(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    runs = []
    for workers in (0, 2):
        loader, sampler = make_loader(ds, batch_size=2, num_workers=workers, seed=4)
        assert loader.persistent_workers == (workers > 0)
        epochs = []
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            epochs.append(_epoch(loader))
        runs.append(epochs)
    for epoch in (0, 1):
        base, with_workers = runs[0][epoch], runs[1][epoch]
        assert [keys for keys, _ in base] == [keys for keys, _ in with_workers]
        pairs = zip(base, with_workers, strict=True)
        assert all(torch.equal(x, y) for (_, x), (_, y) in pairs)
    assert [b[0] for b in runs[0][0]] != [b[0] for b in runs[0][1]]


def test_loader_resume_mid_epoch(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    loader, sampler = make_loader(ds, batch_size=2, num_workers=0, seed=1)
    sampler.set_epoch(5)
    full = _epoch(loader)
    sampler.set_start(4)  # resume after two batches of two
    assert len(loader) == 1
    tail = _epoch(loader)
    assert tail[0][0] == full[2][0] and torch.equal(tail[0][1], full[2][1])


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_reports_unreadable_files_beside_its_batches(tmp_path: Path, workers: int) -> None:
    ds = _dataset(tmp_path)
    broken = tmp_path / "train" / "3.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    loader, _ = make_loader(ds, batch_size=2, num_workers=workers, seed=0, timeout=60)
    assert loader.skipped == []
    batches = list(loader)
    assert all(set(batch) == {"A", "B", "key"} for batch in batches)  # no "skipped" entry
    assert loader.skipped == [str(broken)]
    list(loader)  # met again (every worker keeps its own list): reported once
    assert loader.skipped == [str(broken)]
    loader.close()


def test_workers_start_after_opencv_use(tmp_path: Path) -> None:
    edges_from_photo(np.zeros((64, 64, 3), np.uint8))  # OpenCV's pool is now live in the parent
    loader, _ = make_loader(_dataset(tmp_path), batch_size=3, num_workers=2, seed=0, timeout=60)
    assert [len(batch["key"]) for batch in loader] == [3, 3]


def test_worker_init_limits_threads() -> None:
    before = torch.get_num_threads()
    try:
        worker_init(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_make_loader_validates() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(list(range(3)), batch_size=0, num_workers=0, seed=0)
