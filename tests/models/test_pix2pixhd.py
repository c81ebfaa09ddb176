"""pix2pixHD end to end on the Cityscapes sample (or synthetic street scenes of the same layout)
at 64x128 with ngf 8: a step with every loss, exact resume with and without instance features,
the coarse-to-fine staging, K-means styles stored in the checkpoint, translation of test labels."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate
from typer.testing import CliRunner

from img2img.checkpoints import load_checkpoint
from img2img.cli.app import app
from img2img.config import ConfigError
from img2img.data.labelmaps import LabelValueError
from img2img.engine.device import Precision
from img2img.families import get_family
from img2img.families.loading import load_inference_model
from img2img.families.pix2pixhd.builders import build_generator
from img2img.families.pix2pixhd.features import stored_clusters
from img2img.families.pix2pixhd.training import hd_linear_decay
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.launch import build_recipe, resume, train
from img2img.losses.vgg import VGG19_FILE
from tests.conftest import tiny_pix2pixhd_config

runner = CliRunner()


def _batch(dataset, count: int = 2) -> dict:
    return default_collate([dataset[i] for i in range(count)])


def _nets_equal(a: Path, b: Path) -> None:
    expected, got = load_checkpoint(a)["nets"], load_checkpoint(b)["nets"]
    assert set(expected) == set(got)
    for net, state in expected.items():
        for key, value in state.items():
            assert torch.equal(value, got[net][key]), f"{net}.{key} differs"


def _test_labels(city: Path, tmp_path: Path, count: int = 2) -> tuple[Path, Path]:
    labels, instances = tmp_path / "labels", tmp_path / "insts"
    labels.mkdir()
    instances.mkdir()
    for path in sorted((city / "test_label").glob("*.png"))[:count]:
        shutil.copy(path, labels)
        inst = path.name.replace("labelIds", "instanceIds")
        shutil.copy(city / "test_inst" / inst, instances)
    return labels, instances


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def global_run(city: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The coarse stage: a global generator with ngf 16 trained for one epoch (2 steps)."""
    config = tiny_pix2pixhd_config(city, {"max_steps": 2, "batch_size": 4}, ngf=16)
    run, _ = train(config, tmp_path_factory.mktemp("global"))
    return run.path


def test_learning_rate_follows_the_reference_schedule() -> None:
    factor = hd_linear_decay(n_epochs=2, n_epochs_decay=4)
    # constant for 2 + 1 epochs, then lowered by 1/4 after each: the last runs at 1/4
    assert [factor(e) for e in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert hd_linear_decay(3, 0)(10) == 1.0


def test_one_step_trains_every_network_with_every_loss(city, vgg_file) -> None:
    # random VGG19 weights in torchvision's file format: the ImageNet file is never fetched
    config = tiny_pix2pixhd_config(city, vgg_loss=True, vgg_weights=str(vgg_file[0]),
                                   instance_feat=True)
    recipe = build_recipe(config)
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in recipe.nets.items()}
    dataset = get_family("pix2pixhd").description_class().build_dataset(config)
    losses = recipe.train_step(_batch(dataset))
    assert set(losses) == {"G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert set(recipe.nets) == {"G", "D", "E"}
    for name, net in recipe.nets.items():
        unchanged = [k for (k, p), old in zip(net.named_parameters(), before[name], strict=True)
                     if torch.equal(p, old)]
        assert not unchanged, f"{name}: {unchanged[:3]} not updated"
    # inputs: 34 one-hot classes + boundary (+ 3 features for G); D sees labels + photo
    assert recipe.G.in_channels == 34 + 1 + 3 and recipe.D.in_channels == 34 + 1 + 3
    columns = recipe.sample(_batch(dataset))
    assert [tuple(c.shape) for c in columns] == [(2, 3, 64, 128)] * 3


@pytest.mark.parametrize(("options", "terms"), [
    ({"gan_mode": "vanilla"}, {"G_GAN", "G_GAN_Feat", "D_real", "D_fake"}),
    ({"gan_mode": "hinge", "ganfeat_loss": False}, {"G_GAN", "D_real", "D_fake"}),
])
def test_loss_options_choose_the_terms(city, options: dict, terms: set[str]) -> None:
    meta = torch.device("meta")  # shapes only: which terms a step computes
    config = tiny_pix2pixhd_config(city, **options)
    family = get_family("pix2pixhd")
    batch = _batch(family.description_class().build_dataset(config))
    with meta:
        recipe = family.recipe_class()(config, meta, Precision("fp32", meta))
    batch = {k: v.to(meta) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    losses = recipe.forward_losses(batch)
    assert set(losses) == terms | {"G", "D"}
    assert recipe.gan_loss.mode == options["gan_mode"]


def test_missing_vgg_weights_stop_training_before_it_starts(city, empty_hub, tmp_path) -> None:
    runs = tmp_path / "runs"
    result = runner.invoke(app, [
        "train", "pix2pixhd", "--data", str(city), "--runs-dir", str(runs), "--ngf", "8",
        "--load-size", "128", "--crop-size", "64", "--device", "cpu",
    ])
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert "VGG19" in output and "--vgg-weights" in output and "--no-vgg-loss" in output
    assert str(empty_hub / "checkpoints" / VGG19_FILE) in output.replace(" ", "")
    assert not runs.exists() or not any(runs.iterdir())


def test_local_generator_starts_from_a_global_run_fixed_for_an_epoch_and_resumes_exactly(
    city, global_run, tmp_path
) -> None:
    global_weights = load_checkpoint(global_run)["nets"]["G"]

    def local(max_steps: int):
        return tiny_pix2pixhd_config(
            city, {"max_steps": max_steps, "batch_size": 4, "save_every_epochs": 1},
            netG="local", ngf=8, init_from=str(global_run), fix_global_epochs=1,
        )

    straight, _ = train(local(3), tmp_path / "a")  # 2 steps per epoch
    after_first = load_checkpoint(straight.path / "checkpoints" / "epoch_0001.pt")["nets"]["G"]
    final = load_checkpoint(straight.path)["nets"]["G"]
    global_keys = [k for k in final if k.startswith("model.")]
    enhancer_keys = [k for k in final if k.startswith("model1_")]
    assert global_keys and enhancer_keys
    # the global part came from the run and stayed fixed for the first epoch ...
    assert all(torch.equal(after_first[k], global_weights[k]) for k in global_keys)
    assert not any(torch.equal(after_first[k], final[k]) for k in enhancer_keys)
    # ... then trained jointly
    assert not all(torch.equal(final[k], global_weights[k]) for k in global_keys)

    halves, _ = train(local(2), tmp_path / "b")  # stop exactly at the epoch boundary
    _, result = resume(halves.path, {"max_steps": 3})
    assert result.step == 3
    _nets_equal(straight.path, halves.path)


def test_instance_features_resume_exactly_cluster_into_styles_and_translate(
    city, tmp_path
) -> None:
    def config(max_steps: int):
        return tiny_pix2pixhd_config(city, {"max_steps": max_steps, "batch_size": 4},
                                     instance_feat=True)

    straight, _ = train(config(2), tmp_path / "a")
    halves, _ = train(config(1), tmp_path / "b")
    labels, instances = _test_labels(city, tmp_path)
    with pytest.raises(ValueError, match="run 'img2img features RUN' first"):
        load_inference_model(halves.path, instances=instances)

    result = runner.invoke(app, ["features", str(halves.path), "--clusters", "3",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "classes clustered from 8 images" in result.output
    clusters = stored_clusters(load_checkpoint(halves.path)["extra"])
    assert clusters.styles == 3 and clusters.step == 1 and clusters.n_clusters == 3
    assert 26 in clusters.centres and 7 in clusters.centres  # cars and road
    assert all(c.shape[1] == 3 for c in clusters.centres.values())
    again = runner.invoke(app, ["features", str(halves.path), "--device", "cpu"])
    assert again.exit_code != 0 and "already holds feature centres" in again.output

    # training goes on from the middle of the epoch exactly, and the centres survive it
    _, more = resume(halves.path, {"max_steps": 2})
    assert more.step == 2
    _nets_equal(straight.path, halves.path)
    kept = stored_clusters(load_checkpoint(halves.path)["extra"])
    assert torch.equal(kept.centres[26], clusters.centres[26])

    def translate(out: str, *options: str) -> dict[str, np.ndarray]:
        command = ["translate", "--model", str(halves.path), str(labels), str(tmp_path / out),
                   "--instances", str(instances), "--device", "cpu", *options]
        outcome = runner.invoke(app, command)
        assert outcome.exit_code == 0, outcome.output
        return _read_folder(tmp_path / out)

    styled = translate("style1", "--style", "1")
    # 256x128 label maps, translated 128 wide as the run was trained (scale_width 128)
    assert len(styled) == 2 and all(a.shape == (64, 128, 3) for a in styled.values())
    every = translate("all", "--all-styles")
    assert len(every) == 6 and sum(k.endswith("_style1.png") for k in every) == 2
    for name, array in styled.items():
        assert np.array_equal(every[name.replace(".png", "_style1.png")], array)
    assert not np.array_equal(*(every[k] for k in sorted(every)[:2]))  # styles 0 and 1 differ
    def random_features(seed: int) -> torch.Tensor:
        model = load_inference_model(halves.path, instances=instances, style="random", seed=seed)
        ids = torch.from_numpy(np.asarray(Image.open(next(instances.iterdir()))).astype(np.int64))
        labels_in = torch.where(ids >= 1000, ids // 1000, ids)[None, None]
        x = model.encode_streams({"input": labels_in, "instance": ids[None, None]}, ["k"], [""])
        return x[:, -3:]  # the painted feature channels

    assert torch.equal(random_features(3), random_features(3))
    assert not torch.equal(random_features(3), random_features(4))
    mode = load_inference_model(halves.path, instances=instances, style=1).describe_mode()
    assert mode.count(str(instances)) == 1 and mode.endswith("style 1 of each class"), mode
    bad = runner.invoke(app, ["translate", "--model", str(halves.path), str(labels),
                              str(tmp_path / "bad"), "--style", "3", "--device", "cpu"])
    assert bad.exit_code != 0 and "--style 3: the model has 3 styles (0..2)" in bad.output

    # an ONNX export carries the centres: its styles are the checkpoint's
    pytest.importorskip("onnxruntime")
    exported = runner.invoke(app, ["export", str(halves.path), str(tmp_path / "styled.onnx")])
    assert exported.exit_code == 0, exported.output
    command = ["translate", "--model", str(tmp_path / "styled.onnx"), str(labels),
               str(tmp_path / "onnx_style1"), "--instances", str(instances), "--style", "1"]
    assert runner.invoke(app, command).exit_code == 0
    for name, array in _read_folder(tmp_path / "onnx_style1").items():
        assert np.abs(array.astype(int) - styled[name].astype(int)).max() <= 1, name


def test_a_class_id_beyond_label_nc_stops_training_naming_the_file(city, tmp_path) -> None:
    config = tiny_pix2pixhd_config(city, {"max_steps": 2}, label_nc=20)
    with pytest.raises(LabelValueError, match=r"gtFine_labelIds\.png: class id 33 is outside"):
        train(config, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # found before a run directory was made


def test_init_from_a_generator_that_does_not_fit_fails_before_the_run(
    city, global_run, tmp_path
) -> None:
    # a local generator with ngf 16 needs a global one with ngf 32; the run's has 16
    config = tiny_pix2pixhd_config(city, {"max_steps": 1}, netG="local", ngf=16,
                                   init_from=str(global_run))
    with pytest.raises(ConfigError, match=r"--init-from .*--ngf 2N"):
        train(config, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_published_generator_translates_label_maps(city, tmp_path) -> None:
    config = tiny_pix2pixhd_config(city)
    net = build_generator(config.model, init=True)
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")  # a bare state_dict
    labels, instances = _test_labels(city, tmp_path, count=2)
    model = load_inference_model(tmp_path / "latest_net_G.pth", instances=instances)
    assert (model.family, model.network, model.input_kind) == ("pix2pixhd", "global", "label")
    assert model.model_config.label_nc == 34
    summary = translate_files(model, plan_outputs(labels, tmp_path / "out"))
    assert summary.written == 2 and not summary.failed
    eval_net = dataclasses.replace(model).net.eval()
    x = model.encode_streams(
        {"input": torch.zeros(1, 1, 64, 64, dtype=torch.int64),
         "instance": torch.zeros(1, 1, 64, 64, dtype=torch.int64)}, ["k"], [""])
    assert x.shape == (1, 35, 64, 64) and eval_net(x).shape == (1, 3, 64, 64)

    # exported, the published generator still reads label maps and their instance maps
    pytest.importorskip("onnxruntime")
    from img2img.export.api import export_model

    exported = export_model(model, tmp_path / "published.onnx", "onnx")
    onnx_model = load_inference_model(exported.path, instances=instances)
    assert (onnx_model.family, onnx_model.input_stream.kind) == ("pix2pixhd", "label")
    assert [s.name for s in onnx_model.input_streams] == ["input", "instance"]
    translate_files(onnx_model, plan_outputs(labels, tmp_path / "onnx_out"))
    for name, array in _read_folder(tmp_path / "out").items():
        got = _read_folder(tmp_path / "onnx_out")[name]
        assert np.abs(array.astype(int) - got.astype(int)).max() <= 1, name


def test_dry_run_reports_classes_parameters_and_memory_and_writes_nothing(city, tmp_path):
    runs = tmp_path / "runs"
    result = runner.invoke(app, [
        "train", "pix2pixhd", "--data", str(city), "--runs-dir", str(runs), "--dry-run",
        "--label-nc", "auto", "--ngf", "8", "--ndf", "8", "--n-blocks-global", "2",
        "--load-size", "128", "--crop-size", "64", "--no-vgg-loss", "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "label_nc 34" in output and "8 label maps" in output
    assert "G: " in output and "D: " in output
    assert "memory: ~" in output and "batch 1 at 64x128 in fp32" in output
    assert not runs.exists()


def _striped_instances(city: Path, root: Path) -> Path:
    """A copy of ``city`` whose train instance maps cut every class into 16-pixel stripes of
    instances: their boundaries differ from the classes' boundaries wherever a class spans
    more than one stripe."""
    shutil.copytree(city, root)
    for path in sorted((root / "train_inst").glob("*.png")):
        label = path.name.replace("instanceIds", "labelIds")
        classes = np.asarray(Image.open(root / "train_label" / label)).astype(np.int64)
        stripes = np.arange(classes.shape[1])[None, :] // 16
        Image.fromarray((classes * 1000 + stripes).astype(np.uint16)).save(path)
    return root


def test_evaluate_reads_the_splits_instance_maps_and_scores_against_its_photos(
    city, global_run, tmp_path
) -> None:
    data = _striped_instances(city, tmp_path / "city")
    result = runner.invoke(app, [
        "evaluate", "--model", str(global_run), "--data", str(data), "--phase", "train",
        "--limit", "3", "--metrics", "l1,psnr,ssim", "--device", "cpu", "--json",
        "--out", str(tmp_path / "eval"),
    ])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout[result.stdout.index("{"):])
    assert set(record["metrics"]) == {"L1", "PSNR", "SSIM"}
    assert record["counts"]["pairs"] == 3 and not record["failures"]
    test_mode = record["model"]["test_mode"]
    assert test_mode.count("instance maps from") == 1 and test_mode.count(str(data)) == 1
    assert record["data"].endswith(f"instance maps {data / 'train_inst'}")
    assert {Path(row["target"]).parent.name for row in record["per_image"]} == {"train_img"}
    no_photos = runner.invoke(app, ["evaluate", "--model", str(global_run), "--device", "cpu"])
    assert no_photos.exit_code == 2 and "no image folder" in no_photos.output
    assert "test_img" in no_photos.output and "no instance maps" not in no_photos.output

    outputs = _read_folder(tmp_path / "eval" / "train")
    labels = sorted((data / "train_label").glob("*.png"))[:3]
    assert sorted(outputs) == [p.name for p in labels]
    # the same outputs as translating with the split's instance maps, not class boundaries
    own = tmp_path / "labels"
    own.mkdir()
    for path in labels:
        shutil.copy(path, own)

    def translate(out: str, *options: str) -> dict[str, np.ndarray]:
        command = ["translate", "--model", str(global_run), str(own), str(tmp_path / out),
                   "--device", "cpu", *options]
        assert runner.invoke(app, command).exit_code == 0
        return _read_folder(tmp_path / out)

    with_instances = translate("instances", "--instances", str(data / "train_inst"))
    assert with_instances.keys() == outputs.keys()
    for name, array in with_instances.items():
        assert np.array_equal(array, outputs[name]), name
    bounds = translate("bounds")
    assert all(not np.array_equal(a, outputs[n]) for n, a in bounds.items())


def test_export_takes_the_encoded_labels_and_translates_label_maps_under_onnxruntime(
    city, global_run, tmp_path
) -> None:
    pytest.importorskip("onnxruntime")
    from img2img.export.api import export_model
    from img2img.export.torchscript import read_torchscript_metadata

    model = load_inference_model(global_run)
    onnx_file = export_model(model, tmp_path / "hd.onnx", "onnx")
    script = export_model(model, tmp_path / "hd.ts", "torchscript")
    assert onnx_file.max_difference < 1e-4 and script.max_difference < 1e-4
    metadata = read_torchscript_metadata(script.path)
    assert metadata["input"]["shape"][1] == 35 and metadata["in_channels"] == 1
    assert metadata["input"]["encoding"].startswith("34 one-hot classes, then the instance")

    labels, instances = _test_labels(city, tmp_path, count=2)

    def translate(source: Path, out: str, labels: Path = labels,
                  instances: Path = instances) -> dict[str, np.ndarray]:
        command = ["translate", "--model", str(source), str(labels), str(tmp_path / out),
                   "--instances", str(instances), "--device", "cpu"]
        outcome = runner.invoke(app, command)
        assert outcome.exit_code == 0, outcome.output
        return _read_folder(tmp_path / out)

    torch_out, onnx_out = translate(global_run, "torch"), translate(onnx_file.path, "onnx")
    assert torch_out.keys() == onnx_out.keys() and len(onnx_out) == 2
    for name, array in torch_out.items():
        assert np.abs(array.astype(int) - onnx_out[name].astype(int)).max() <= 1, name
    # evaluated, it reads the split's own instance maps as the checkpoint does
    data = _striped_instances(city, tmp_path / "city")
    result = runner.invoke(app, [
        "evaluate", "--model", str(onnx_file.path), "--data", str(data), "--phase", "train",
        "--limit", "2", "--metrics", "l1", "--device", "cpu", "--json",
        "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout[result.stdout.index("{"):])
    assert record["data"].endswith(f"instance maps {data / 'train_inst'}")
    with_instances = translate(onnx_file.path, "onnx_train", labels=data / "train_label",
                               instances=data / "train_inst")
    for name, array in _read_folder(tmp_path / "eval" / "train").items():
        assert np.array_equal(array, with_instances[name]), name
    refused = runner.invoke(app, ["translate", "--model", str(onnx_file.path), str(labels),
                                  str(tmp_path / "x"), "--eval", "--device", "cpu"])
    assert refused.exit_code == 2
    assert "--eval: an exported model's test-time" in " ".join(refused.output.split())


def test_class_ids_are_checked_on_the_cpu_before_the_copy(city, monkeypatch) -> None:
    """Reading the range of ids already on a GPU would wait for it: the step checks the
    batch's own (CPU) tensor, and the one-hot encoding on the device checks nothing again."""
    from img2img.data import labelmaps
    from img2img.families.pix2pixhd import training

    config = tiny_pix2pixhd_config(city)
    family = get_family("pix2pixhd")
    batch = _batch(family.description_class().build_dataset(config))
    recipe = build_recipe(config)
    seen: list = []
    check = labelmaps.check_label_values
    monkeypatch.setattr(training, "check_label_values",
                        lambda labels, *a: seen.append(labels) or check(labels, *a))
    monkeypatch.setattr(labelmaps, "check_label_values",
                        lambda *a: pytest.fail("ids checked again after the copy"))
    recipe.forward_losses(batch)
    assert len(seen) == 1 and seen[0] is batch["label"]
    bad = {**batch, "label": batch["label"] + 34}  # label_nc 34: ids 34.. are out of range
    with pytest.raises(LabelValueError, match=r"batch: class id \d+ is outside 0\.\.33"):
        recipe.forward_losses(bad)


@pytest.mark.parametrize("inputs_cl", [True, False])
def test_channels_last_inputs_follow_the_familys_declared_choice(city, monkeypatch,
                                                                 inputs_cl) -> None:
    """Under --channels-last the networks are channels-last; the encoded labels and the photo
    are too where the family declares it (measured, bench/channels_last.py), else contiguous."""
    from img2img.families.pix2pixhd.training import Pix2PixHDRecipe

    config = tiny_pix2pixhd_config(city)
    config = config.replace(train=dataclasses.replace(config.train, channels_last=True))
    family = get_family("pix2pixhd")
    batch = _batch(family.description_class().build_dataset(config))
    monkeypatch.setattr(Pix2PixHDRecipe, "channels_last_inputs", inputs_cl)
    recipe = build_recipe(config)
    seen: list = []
    recipe.G.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    recipe.forward_losses(batch)
    wanted = torch.channels_last if inputs_cl else torch.contiguous_format
    assert seen[0].is_contiguous(memory_format=wanted) and not seen[0].is_contiguous(
        memory_format=torch.contiguous_format if inputs_cl else torch.channels_last)
