"""The registry of published datasets, and resolve_dataset: paths, names, $IMG2IMG_DATASETS,
./datasets and the checkout's datasets/ folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from img2img.hub import datasets as hub_datasets
from img2img.hub.datasets import (
    DATASETS_ENV,
    DatasetNotInstalledError,
    UnknownDatasetError,
    dataset_roots,
    find_published,
    get_published,
    local_datasets,
    package_datasets_root,
    published_datasets,
    registry_name,
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


# --- the registry of published datasets --------------------------------------------------------
PIX2PIX = {"facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"}
CYCLEGAN = {"apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo",
            "cezanne2photo", "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades",
            "iphone2dslr_flower", "ae_photos"}


def test_registry_lists_every_published_dataset_of_both_families() -> None:
    entries = published_datasets()
    by_family = {f: {d.name for d in entries if f in d.families} for f in ("pix2pix", "cyclegan")}
    assert by_family == {"pix2pix": PIX2PIX, "cyclegan": CYCLEGAN}
    assert len({d.folder for d in entries}) == len(entries)  # no two share a folder
    for d in entries:
        assert d.layout in ("paired", "unpaired", "cityscapes") and d.description and d.licence
        assert set(d.families) <= {"pix2pix", "cyclegan", "pix2pixhd"}
        if d.url is None:  # may not be redistributed: the steps to obtain it instead
            assert d.homepage and "datasets prepare" in d.how_to_obtain("OUT")
            assert "OUT" in d.how_to_obtain("OUT")
        else:
            family = "pix2pix" if "pix2pix" in d.families else "cyclegan"
            suffix = ".tar.gz" if family == "pix2pix" else ".zip"
            expected = f"http://efrosgans.eecs.berkeley.edu/{family}/datasets/{d.name}{suffix}"
            assert d.url == expected and d.archive_name == f"{d.name}{suffix}"
        assert d.sha256 is None or len(d.sha256) == 64


def test_registry_ships_inside_the_package() -> None:
    import tomllib
    from fnmatch import fnmatch

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["img2img"]
    assert any(fnmatch("hub/datasets.json", p) for p in patterns)
    assert (REPO / "img2img" / "hub" / "datasets.json").is_file()


def test_names_shared_by_two_families_are_qualified_or_picked_by_family() -> None:
    assert find_published("facades", "pix2pix").folder == "facades"
    assert find_published("facades", "cyclegan").folder == "facades_cyclegan"
    assert find_published("cyclegan/facades").folder == "facades_cyclegan"
    assert registry_name(find_published("pix2pix/maps")) == "pix2pix/maps"
    assert registry_name(get_published("horse2zebra")) == "horse2zebra"
    with pytest.raises(UnknownDatasetError, match="pix2pix/facades, cyclegan/facades"):
        find_published("facades")
    with pytest.raises(UnknownDatasetError, match="not a published dataset.*horse2zebra"):
        get_published("horse2donkey")
    assert find_published("horse2zebra", "pix2pix") is None  # not one of pix2pix's


def test_a_published_name_resolves_to_its_own_folder(elsewhere: Path) -> None:
    (elsewhere / "datasets" / "facades").mkdir(parents=True)  # pix2pix's facades
    assert resolve_dataset("facades", "pix2pix") == Path("datasets") / "facades"
    assert resolve_dataset("facades") == Path("datasets") / "facades"
    with pytest.raises(DatasetNotInstalledError) as info:  # cyclegan's is another folder
        resolve_dataset("facades", "cyclegan")
    assert info.value.entry.folder == "facades_cyclegan"
    assert info.value.target == Path("datasets") / "facades_cyclegan"
    assert "img2img datasets download cyclegan/facades" in str(info.value)
    (elsewhere / "datasets" / "facades_cyclegan").mkdir()
    assert resolve_dataset("cyclegan/facades") == Path("datasets") / "facades_cyclegan"


def test_a_dataset_that_cannot_be_downloaded_says_how_to_obtain_it(elsewhere: Path) -> None:
    with pytest.raises(DatasetNotInstalledError) as info:
        resolve_dataset("cityscapes", "pix2pix")
    message = str(info.value)
    assert "may not be redistributed" in message and "cityscapes-dataset.com" in message
    assert ("img2img datasets prepare cityscapes --gtfine gtFine --leftimg8bit leftImg8bit "
            f"{Path('datasets') / 'cityscapes'}") in message
