"""resolve_dataset: paths, $IMG2IMG_DATASETS, ./datasets and the checkout's datasets/ folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from img2img.hub import datasets as hub_datasets
from img2img.hub.datasets import (
    DATASETS_ENV,
    dataset_roots,
    local_datasets,
    package_datasets_root,
    resolve_dataset,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work from an empty folder, with the variable unset and a fake checkout datasets/ folder."""
    work, checkout = tmp_path / "work", tmp_path / "checkout" / "datasets"
    work.mkdir()
    (checkout / "bundled").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv(DATASETS_ENV, raising=False)
    monkeypatch.setattr(hub_datasets, "package_datasets_root", lambda: checkout)
    return work


def test_package_root_is_the_checkout_datasets_folder() -> None:
    assert package_datasets_root() == REPO / "datasets"


def test_existing_path_wins(elsewhere: Path) -> None:
    (elsewhere / "bundled").mkdir()
    assert resolve_dataset("bundled") == Path("bundled")
    assert resolve_dataset(str(elsewhere / "bundled")) == elsewhere / "bundled"


def test_cwd_datasets_then_checkout(elsewhere: Path) -> None:
    (elsewhere / "datasets" / "mine").mkdir(parents=True)
    assert resolve_dataset("mine") == Path("datasets") / "mine"
    assert resolve_dataset("bundled") == elsewhere.parent / "checkout" / "datasets" / "bundled"
    assert local_datasets() == ["bundled", "mine"]


def test_variable_replaces_cwd_datasets(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (elsewhere / "datasets" / "mine").mkdir(parents=True)
    store = tmp_path / "store"
    (store / "facades").mkdir(parents=True)
    monkeypatch.setenv(DATASETS_ENV, str(store))
    assert resolve_dataset("facades") == store / "facades"
    assert resolve_dataset("bundled").parent == elsewhere.parent / "checkout" / "datasets"
    with pytest.raises(FileNotFoundError):
        resolve_dataset("mine")  # ./datasets is not searched while the variable is set


def test_error_lists_every_place_and_the_names_found(elsewhere: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        resolve_dataset("nope")
    message = str(info.value)
    checkout = hub_datasets.package_datasets_root()  # the fixture's fake checkout
    for place in ("nope", str(Path("datasets") / "nope"), str(checkout / "nope")):
        assert place in message
    assert "datasets found: bundled" in message and DATASETS_ENV in message


def test_one_folder_is_searched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv(DATASETS_ENV, raising=False)
    assert dataset_roots() == [Path("datasets")]


@pytest.mark.skipif(
    not (REPO / "datasets" / "edges2photos_mini").is_dir(), reason="bundled sample not present"
)
def test_bundled_sample_resolves_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATASETS_ENV, raising=False)
    found = resolve_dataset("edges2photos_mini")
    assert found == REPO / "datasets" / "edges2photos_mini"
    assert (found / "train").is_dir()
