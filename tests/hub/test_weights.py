"""The published-weights registry, the weights folder, download on first use (127.0.0.1 only)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from urllib.parse import urlsplit

import pytest
import torch

from img2img.checkpoints import CheckpointError
from img2img.families import list_families
from img2img.families.loading import load_inference_model
from img2img.hub import weights as registry
from img2img.hub.download import DownloadError, checksum_path, partial_path
from img2img.hub.weights import (
    WEIGHTS_ENV,
    WeightsError,
    fetch,
    get_published,
    list_published,
    load_registry,
    resolve_model,
    weights_root,
)
from img2img.nn import create_generator, list_generators

CYCLEGAN = ["apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite",
            "horse2zebra", "zebra2horse", "monet2photo", "style_monet", "style_cezanne",
            "style_ukiyoe", "style_vangogh", "sat2map", "map2sat", "cityscapes_photo2label",
            "cityscapes_label2photo", "facades_photo2label", "facades_label2photo",
            "iphone2dslr_flower"]
PIX2PIX = ["edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"]
CUT = ["horse2zebra_cut", "horse2zebra_fastcut", "cat2dog_cut", "cat2dog_fastcut",
       "cityscapes_cut", "cityscapes_fastcut"]
SHARED_NAMES = {"sat2map", "map2sat", "facades_label2photo"}


def test_registry_lists_every_published_model():
    entries = load_registry()
    by_family = {f: [e.name for e in entries if e.family == f]
                 for f in ("cyclegan", "pix2pix", "cut")}
    assert by_family == {"cyclegan": CYCLEGAN, "pix2pix": PIX2PIX, "cut": CUT}
    hd = [e.qualified_name for e in entries if e.family == "pix2pixhd"]
    assert hd == ["pix2pixhd/label2city"]
    names = list_published()
    assert len(names) == len(set(names)) == 30
    for name in SHARED_NAMES:
        assert name not in names and f"pix2pix/{name}" in names and f"cyclegan/{name}" in names


@pytest.mark.parametrize("entry", load_registry(), ids=lambda e: e.qualified_name)
def test_entries_are_well_formed(entry):
    path = urlsplit(entry.url).path
    if entry.manual:
        assert entry.note and entry.url.startswith("https://") and entry.archive_folder is None
        return
    expected = {"cyclegan": f"/cyclegan/pretrained_models/{entry.name}.pth",
                "pix2pix": f"/pix2pix/models-pytorch/{entry.name}.pth",
                "cut": "/CUT/pretrained_models.tar"}[entry.family]
    assert urlsplit(entry.url).netloc == "efrosgans.eecs.berkeley.edu" and path == expected
    pix2pix = entry.family == "pix2pix"
    assert entry.archive_folder == (f"{entry.name}_pretrained" if entry.family == "cut" else None)
    assert entry.options["in_channels"] == 3
    assert entry.options["norm"] == ("batch" if pix2pix else "instance")
    assert entry.options["dropout"] is pix2pix
    assert entry.options.get("antialias", False) is (entry.family == "cut")
    assert entry.test["test_mode"] == ("paper" if pix2pix else "eval")
    assert entry.sha256 is None or len(entry.sha256) == 64


@pytest.mark.parametrize("entry", load_registry(), ids=lambda e: e.qualified_name)
def test_entries_build_their_generators(entry):
    assert entry.family in list_families() and entry.network in list_generators()
    with torch.device("meta"):
        net = create_generator(entry.network, init_type=None, **entry.options)
    assert net.in_channels == entry.options["in_channels"]


def test_names_resolve_and_shared_names_must_be_qualified():
    assert get_published("horse2zebra").qualified_name == "cyclegan/horse2zebra"
    assert get_published("pix2pix/sat2map").family == "pix2pix"
    with pytest.raises(WeightsError, match="use cyclegan/sat2map or pix2pix/sat2map"):
        get_published("sat2map")
    with pytest.raises(WeightsError, match="'horse2cat' is not a published model.*horse2zebra"):
        get_published("horse2cat")


def test_weights_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert weights_root() == registry.Path("weights")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env"))
    assert weights_root() == tmp_path / "env" and weights_root(tmp_path / "x") == tmp_path / "x"
    with pytest.raises(WeightsError, match="not a published model name"):
        resolve_model("nowhere_at_all", tmp_path)


def test_a_model_not_found_says_what_was_probably_meant(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("facades", "maps"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    (tmp_path / "runs" / "notes.txt").write_text("not a model")
    (tmp_path / "runs" / "g.onnx").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    cases = {  # --model value -> the end of the message
        "runs/facade": "'runs' holds: facades/, g.onnx, maps/",
        "empty/latest.pt": "'empty' holds no folder or model file",
        "elsewhere/latest.pt": "no such file (and no folder 'elsewhere')",
        "horse2zebr": "(did you mean horse2zebra or horse2zebra_cut or horse2zebra_fastcut? "
                      "see 'img2img weights list'; known: ",
    }
    for model, expected in cases.items():
        with pytest.raises(WeightsError) as error:
            resolve_model(model, tmp_path / "weights")
        message = str(error.value)
        assert message.startswith(f"--model {model!r}: ") and expected in message, message
        assert ("known: " in message) == (model == "horse2zebr"), message


def test_a_name_downloads_once_and_translates(mirror, horse2zebra_bytes, tmp_path):
    entry = get_published("horse2zebra")
    mirror.publish(entry, horse2zebra_bytes)
    seen: list[tuple[int, int | None]] = []
    model = load_inference_model("horse2zebra", weights_dir=tmp_path, progress=lambda d, t:
                                 seen.append((d, t)))
    dest = tmp_path / "cyclegan" / "horse2zebra.pth"
    assert model.source == dest and dest.read_bytes() == horse2zebra_bytes
    assert seen[-1] == (len(horse2zebra_bytes), len(horse2zebra_bytes))
    digest = hashlib.sha256(horse2zebra_bytes).hexdigest()
    assert checksum_path(dest).read_text().split()[0] == digest
    assert (model.family, model.network, model.test_mode) == ("cyclegan", "resnet_9blocks", "eval")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    original = torch.load(io.BytesIO(horse2zebra_bytes), weights_only=True)
    assert torch.equal(model.net.state_dict()["model.1.weight"], original["model.1.weight"])
    assert model.run(x, ["x"]).shape == (1, 3, 32, 32)
    requests = len(mirror.requests)
    load_inference_model("horse2zebra", weights_dir=tmp_path)
    assert len(mirror.requests) == requests  # the downloaded file is used from then on


def test_an_interrupted_download_resumes(mirror, horse2zebra_bytes, tmp_path):
    entry = get_published("zebra2horse")
    path = mirror.publish(entry, horse2zebra_bytes)
    mirror.drop_after[path] = 5_000_000
    dest = tmp_path / "cyclegan" / "zebra2horse.pth"
    size = len(horse2zebra_bytes)
    with pytest.raises(DownloadError, match=f"ended after 5000000 of {size} bytes; run the"):
        fetch(entry, tmp_path)
    assert not dest.exists() and partial_path(dest).stat().st_size == 5_000_000
    assert fetch(entry, tmp_path) == dest and dest.read_bytes() == horse2zebra_bytes
    assert mirror.requests[-1].range == "bytes=5000000-"
    assert not partial_path(dest).exists()


def test_a_checksum_mismatch_is_refused(mirror, horse2zebra_bytes, tmp_path):
    entry = dataclasses.replace(get_published("horse2zebra"), sha256="0" * 64)
    mirror.publish(entry, horse2zebra_bytes)
    with pytest.raises(DownloadError, match="checksum mismatch: expected sha256 0000"):
        fetch(entry, tmp_path)
    dest = tmp_path / "cyclegan" / "horse2zebra.pth"
    assert not dest.exists() and not partial_path(dest).exists()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(horse2zebra_bytes)  # a file put there by hand is checked too
    with pytest.raises(WeightsError, match="differs from the published 0000"):
        fetch(entry, tmp_path)


def test_a_manual_model_says_how_to_get_it(tmp_path):
    with pytest.raises(WeightsError, match="cannot be downloaded automatically.*Google Drive"):
        fetch(get_published("label2city"), tmp_path)


def test_a_file_that_is_not_the_published_generator_is_refused(tmp_path):
    dest = tmp_path / "cyclegan" / "style_monet.pth"
    dest.parent.mkdir(parents=True)
    torch.save(create_generator("resnet_6blocks", norm="instance", ngf=4).state_dict(), dest)
    with pytest.raises(CheckpointError, match=r"holds a resnet_6blocks \(ngf 4.*not the "
                                              r"resnet_9blocks.*cyclegan/style_monet"):
        load_inference_model("style_monet", weights_dir=tmp_path)


def test_published_pix2pix_models_run_in_the_papers_test_mode(monkeypatch, tmp_path):
    entry = dataclasses.replace(
        get_published("pix2pix/facades_label2photo"),
        network="unet_128", options={**get_published("edges2shoes").options, "ngf": 4},
    )
    monkeypatch.setattr(registry, "load_registry", lambda: (entry,))
    dest = tmp_path / "pix2pix" / "facades_label2photo.pth"
    dest.parent.mkdir(parents=True)
    torch.save(create_generator("unet_128", ngf=4, norm="batch", dropout=True).state_dict(), dest)
    model = load_inference_model("facades_label2photo", weights_dir=tmp_path)
    assert (model.family, model.test_mode, model.dropout) == ("pix2pix", "paper", True)
    assert load_inference_model("facades_label2photo", weights_dir=tmp_path,
                                test_mode="eval").test_mode == "eval"
