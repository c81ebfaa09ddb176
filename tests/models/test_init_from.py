"""``--init-from``: every family fine-tunes from a run, a checkpoint, a bare or released file,
or a published name (served on 127.0.0.1 through ``IMG2IMG_MIRROR``); bad values fail before
a run directory exists."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from img2img.checkpoints import load_checkpoint
from img2img.cli import app
from img2img.config import ConfigError
from img2img.families import load_run_config
from img2img.families.init_from import warm_start
from img2img.hub import weights as registry
from img2img.hub.weights import WEIGHTS_ENV, get_published
from img2img.launch import build_recipe, resume, summarize, train
from img2img.models.released import save_release
from img2img.nn import create_generator
from tests.conftest import tiny_pix2pix_config, tiny_pix2pixhd_config
from tests.models.test_cut_training import tiny_cut_config
from tests.models.test_cyclegan_training import tiny_cyclegan_config


def _config(family: str, data: dict, init_from=None, max_steps: int = 1, **model):
    """A tiny run of ``family`` (``data``: the dataset of each family) starting from
    ``init_from``."""
    model = {"init_from": None if init_from is None else str(init_from), **model}
    if family == "pix2pix":
        config = tiny_pix2pix_config(data["paired"], max_steps=max_steps)
        return config.replace(model=dataclasses.replace(config.model, **model))
    if family == "pix2pixhd":
        return tiny_pix2pixhd_config(data["city"], {"max_steps": max_steps}, **model)
    make = {"cyclegan": tiny_cyclegan_config, "cut": tiny_cut_config}[family]
    return make(data["unpaired"], model, {"max_dataset_size": 2}, max_steps=max_steps)


@pytest.fixture(scope="module")
def data(gray2color, color2gray, city) -> dict:
    return {"paired": gray2color, "unpaired": color2gray, "city": city}


@pytest.fixture(scope="module")
def source_runs(data, tmp_path_factory) -> dict:
    """A one-step run of each family, to fine-tune from."""
    runs = tmp_path_factory.mktemp("sources")
    return {family: train(_config(family, data), runs / family)[0].path
            for family in ("pix2pix", "cyclegan", "cut", "pix2pixhd")}


def _assert_loaded(recipe, states, names) -> None:
    for name in names:
        own = recipe.nets[name].state_dict()
        assert own.keys() == states[name].keys(), name
        assert all(torch.equal(own[k], states[name][k]) for k in own), f"{name} differs"


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan", "cut", "pix2pixhd"])
def test_every_family_fine_tunes_from_a_run_of_its_own(family, data, source_runs) -> None:
    source = source_runs[family]
    recipe = build_recipe(_config(family, data, source))
    fresh = {name: {k: v.clone() for k, v in net.state_dict().items()}
             for name, net in recipe.nets.items()}
    notes = warm_start(recipe)
    saved = load_checkpoint(source)
    _assert_loaded(recipe, saved["nets"], list(recipe.nets))
    for name, state in saved["nets"].items():  # the source's weights, not the run's own
        assert not all(k in fresh[name] and torch.equal(v, fresh[name][k])
                       for k, v in state.items())
    where = source / "checkpoints" / "latest.pt"
    assert notes == [f"{name}: loaded from {where} ({family} run, step 1)"
                     for name in recipe.nets]
    assert set(recipe.optimizers) == ({"G", "D", "F"} if family == "cut" else {"G", "D"})
    assert all(not opt.state for opt in recipe.optimizers.values())  # fresh optimizers


@pytest.mark.parametrize("family", ["pix2pix", "cut"])
def test_fine_tuning_is_recorded_and_resumes_exactly(family, data, source_runs,
                                                     tmp_path) -> None:
    source = shutil.copytree(source_runs[family], tmp_path / "source")
    straight, result = train(_config(family, data, source, max_steps=2), tmp_path / "a")
    assert result.step == 2
    config = load_run_config(json.loads((straight.path / "config.json").read_text()))
    assert config.model.init_from == str(source)
    dry = summarize(_config(family, data, source, max_steps=1)).notes  # says what it would load
    assert f"G: loaded from {source / 'checkpoints' / 'latest.pt'} ({family} run, step 1)" in dry
    halves, _ = train(_config(family, data, source, max_steps=1), tmp_path / "b")
    shutil.rmtree(source)  # a resume continues from its own checkpoint, not the source
    _, second = resume(halves.path, {"max_steps": 2})
    assert second.step == 2
    expected, got = load_checkpoint(straight.path)["nets"], load_checkpoint(halves.path)["nets"]
    for name, state in expected.items():
        assert all(torch.equal(v, got[name][k]) for k, v in state.items()), name


def test_a_bare_state_dict_and_a_release_start_the_generator(data, source_runs,
                                                            tmp_path) -> None:
    saved = load_checkpoint(source_runs["pix2pix"])
    bare = tmp_path / "G.pth"
    torch.save({f"module.{k}": v for k, v in saved["nets"]["G"].items()}, bare)  # DataParallel
    recipe = build_recipe(_config("pix2pix", data, bare))
    notes = warm_start(recipe)
    _assert_loaded(recipe, saved["nets"], ["G"])
    assert notes == [f"G: loaded from {bare}", "D: starts fresh (the source holds no D (only G))"]

    built = build_recipe(_config("pix2pix", data))
    built.G.load_state_dict(saved["nets"]["G"])
    release = save_release(tmp_path / "model.safetensors", {"G": built.G}, family="pix2pix",
                           config=saved["config"], step=saved["step"])
    recipe = build_recipe(_config("pix2pix", data, release))
    assert warm_start(recipe)[0] == f"G: loaded from {release} (a pix2pix release, step 1)"
    _assert_loaded(recipe, saved["nets"], ["G"])


def _tiny_published(monkeypatch, tmp_path, mirror) -> dict:
    """edges2shoes and horse2zebra as tiny generators (with the InstanceNorm statistics older
    CycleGAN files hold), served by the mirror; weights download into ``tmp_path``."""
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "weights"))
    torch.manual_seed(1)
    shoes = create_generator("unet_128", ngf=8, norm="batch", dropout=True, in_channels=1)
    zebra = create_generator("resnet_6blocks", ngf=8, norm="instance", init_type="normal")
    states = {"edges2shoes": shoes.state_dict(), "horse2zebra": zebra.state_dict()}
    with_stats = dict(states["horse2zebra"])
    for name, module in zebra.named_modules():
        if isinstance(module, torch.nn.InstanceNorm2d):
            with_stats[f"{name}.running_mean"] = torch.zeros(module.num_features)
    entries = []
    for name, state in (("edges2shoes", states["edges2shoes"]), ("horse2zebra", with_stats)):
        entry = dataclasses.replace(get_published(name), sha256=None, size=None)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        mirror.publish(entry, buffer.getvalue())
        entries.append(entry)
    monkeypatch.setattr(registry, "load_registry", lambda: tuple(entries))
    return states


def test_published_names_download_and_start_the_generator(data, mirror, monkeypatch,
                                                         tmp_path) -> None:
    states = _tiny_published(monkeypatch, tmp_path, mirror)
    recipe = build_recipe(_config("pix2pix", data, "edges2shoes"))
    notes = warm_start(recipe)
    _assert_loaded(recipe, {"G": states["edges2shoes"]}, ["G"])
    where = tmp_path / "weights" / "pix2pix" / "edges2shoes.pth"
    assert notes[0] == f"G: loaded from published pix2pix/edges2shoes ({where})"

    recipe = build_recipe(_config("cyclegan", data, "horse2zebra"))
    fresh_b = {k: v.clone() for k, v in recipe.G_B.state_dict().items()}
    notes = warm_start(recipe)
    _assert_loaded(recipe, {"G_A": states["horse2zebra"]}, ["G_A"])
    assert all(torch.equal(v, fresh_b[k]) for k, v in recipe.G_B.state_dict().items())
    assert notes[0].startswith("G_A: loaded from G of published cyclegan/horse2zebra")
    assert notes[1] == "G_B: starts fresh (the source holds no G_B (only G))"
    assert notes[2:] == [f"{d}: starts fresh (the source holds no {d} (only G))"
                         for d in ("D_A", "D_B")]


def _refused(config, runs, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train(config, runs)
    assert not runs.exists()


def test_bad_values_are_refused_before_the_run_folder(data, source_runs, mirror, monkeypatch,
                                                      tmp_path) -> None:
    runs = tmp_path / "runs"
    _refused(_config("pix2pix", data, tmp_path / "gone.pth"), runs,
             r"--init-from '.*gone\.pth': no such checkpoint, run directory or file")
    _refused(_config("pix2pix", data, "edges2shose"), runs,
             r"--init-from 'edges2shose': .*did you mean edges2shoes")
    _refused(_config("pix2pix", data, source_runs["cyclegan"]), runs,
             r"--init-from .*cyclegan/tiny: a cyclegan run; expected a pix2pix one")
    _refused(_config("pix2pix", data, source_runs["pix2pix"], ngf=16), runs,
             r"--init-from .*pix2pix/tiny: no generator of this run fits \(G: its layout "
             r"differs: 'model\.model\.0\.weight' is \[8, 1, 4, 4\] in the file but "
             r"\[16, 1, 4, 4\].*\); expected weights of a generator like this run's G \(the "
             r"same --netG, --ngf and channels\)")
    _tiny_published(monkeypatch, tmp_path, mirror)
    _refused(_config("pix2pix", data, "horse2zebra"), runs,
             r"--init-from horse2zebra: a published cyclegan model; expected a pix2pix one "
             r"\(edges2shoes\)")


def test_the_command_line_downloads_a_published_name_and_names_a_missing_value(
    data, mirror, monkeypatch, tmp_path
) -> None:
    _tiny_published(monkeypatch, tmp_path, mirror)
    runs = tmp_path / "runs"
    train = ["train", "pix2pix", "--data", str(data["paired"]), "--runs-dir", str(runs),
             "--netG", "unet_128", "--ngf", "8", "--ndf", "8", "--input-nc", "1",
             "--load-size", "142", "--crop-size", "128", "--max-steps", "1", "--device", "cpu"]
    result = CliRunner().invoke(app, [*train, "--init-from", "edges2shoes", "--yes"],
                                terminal_width=300)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "downloading pix2pix/edges2shoes:" in output
    where = tmp_path / "weights" / "pix2pix" / "edges2shoes.pth"
    assert f"G: loaded from published pix2pix/edges2shoes ({where})" in output
    assert "D: starts fresh (the source holds no D (only G))" in output

    result = CliRunner().invoke(app, [*train, "--init-from", str(tmp_path / "nowhere"),
                                      "--runs-dir", str(tmp_path / "none")], terminal_width=300)
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert f"--init-from '{tmp_path / 'nowhere'}': no such checkpoint, run directory or file" \
        in output, output
    assert not (tmp_path / "none").exists()


def test_a_global_pix2pixhd_run_starts_a_local_generators_global_part(data, source_runs
                                                                      ) -> None:
    source = source_runs["pix2pixhd"]  # a global generator with ngf 8
    recipe = build_recipe(_config("pix2pixhd", data, source, netG="local", ngf=4))
    notes = warm_start(recipe)
    assert notes[0] == (f"G: loaded from {source / 'checkpoints' / 'latest.pt'} (pix2pixhd run, "
                        "step 1); a global generator, into the global part (the local enhancer "
                        "starts fresh)")
    saved = load_checkpoint(source)["nets"]["G"]
    own = recipe.G.state_dict()
    global_part = [k for k in own if k.startswith("model.")]
    assert global_part and all(torch.equal(own[k], saved[k]) for k in global_part)
