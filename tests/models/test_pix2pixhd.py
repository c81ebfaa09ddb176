"""pix2pixHD end to end on the real Cityscapes sample (64x128, ngf 8): a step, exact resume,
coarse-to-fine staging, instance features and styles, translation of the test labels."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from img2img.config import ConfigError
from img2img.data.labelmaps import LabelValueError
from img2img.engine.checkpoint import load_checkpoint
from img2img.features import encode_run_features
from img2img.infer.translate import plan_outputs, translate_files
from img2img.launch import build_recipe, resume, train
from img2img.losses.vgg import VGG19_FILE, vgg19_features
from img2img.models.loading import load_inference_model
from img2img.models.pix2pixhd import hd_linear_decay
from tests.conftest import tiny_pix2pixhd_config


def _batch(recipe, count: int = 2) -> dict:
    dataset = type(recipe).build_dataset(recipe.config)
    return default_collate([dataset[i] for i in range(count)])


def _nets_equal(a: Path, b: Path) -> None:
    expected, got = load_checkpoint(a)["nets"], load_checkpoint(b)["nets"]
    assert set(expected) == set(got)
    for net, state in expected.items():
        for key, value in state.items():
            assert torch.equal(value, got[net][key]), f"{net}.{key} differs"


def _test_labels(city: Path, tmp_path: Path, count: int = 3) -> tuple[Path, Path]:
    labels, instances = tmp_path / "labels", tmp_path / "insts"
    labels.mkdir()
    instances.mkdir()
    for path in sorted((city / "test_label").glob("*.png"))[:count]:
        shutil.copy(path, labels)
        inst = path.name.replace("labelIds", "instanceIds")
        shutil.copy(city / "test_inst" / inst, instances)
    return labels, instances


def test_learning_rate_follows_the_reference_schedule() -> None:
    factor = hd_linear_decay(n_epochs=2, n_epochs_decay=4)
    # constant for 2 + 1 epochs, then lowered by 1/4 after each: the last runs at 1/4
    assert [factor(e) for e in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert hd_linear_decay(3, 0)(10) == 1.0


def test_one_step_trains_every_network_with_every_loss(city, tmp_path) -> None:
    weights = tmp_path / VGG19_FILE  # random VGG19 weights: the ImageNet file is never fetched
    torch.save(vgg19_features().state_dict(), weights)
    config = tiny_pix2pixhd_config(city, vgg_loss=True, vgg_weights=str(weights),
                                   instance_feat=True)
    recipe = build_recipe(config)
    before = {k: [p.detach().clone() for p in net.parameters()] for k, net in recipe.nets.items()}
    losses = recipe.train_step(_batch(recipe))
    assert set(losses) == {"G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert set(recipe.nets) == {"G", "D", "E"}
    for name, net in recipe.nets.items():
        unchanged = [k for (k, p), old in zip(net.named_parameters(), before[name], strict=True)
                     if torch.equal(p, old)]
        assert not unchanged, f"{name}: {unchanged[:3]} not updated"
    # inputs: 34 one-hot classes + boundary (+ 3 features for G); D sees labels + photo
    assert recipe.G.in_channels == 34 + 1 + 3 and recipe.D.in_channels == 34 + 1 + 3
    columns = recipe.sample(_batch(recipe))
    assert [tuple(c.shape) for c in columns] == [(2, 3, 64, 128)] * 3


def test_resume_continues_exactly(city, tmp_path) -> None:
    total = 6  # 8 examples, batch 2: the run crosses into the second epoch
    straight, _ = train(tiny_pix2pixhd_config(city, {"max_steps": total}), tmp_path / "a")
    halves, first = train(tiny_pix2pixhd_config(city, {"max_steps": 3}), tmp_path / "b")
    assert first.step == 3
    _, second = resume(halves.path, {"max_steps": total})
    assert second.step == total
    _nets_equal(straight.path, halves.path)
    assert load_checkpoint(halves.path)["epoch"] == 1


def test_local_generator_starts_from_a_global_run_and_fixes_it_for_an_epoch(city, tmp_path):
    coarse, _ = train(tiny_pix2pixhd_config(city, {"max_steps": 1}, ngf=16), tmp_path / "g")
    global_weights = load_checkpoint(coarse.path)["nets"]["G"]

    def local(max_steps: int):
        return tiny_pix2pixhd_config(
            city, {"max_steps": max_steps, "batch_size": 4, "save_every_epochs": 1},
            netG="local", ngf=8, init_from=str(coarse.path), fix_global_epochs=1,
        )

    recipe = build_recipe(local(4))
    assert recipe.warm_start()
    for key, value in recipe.G.state_dict().items():
        if key.startswith("model."):
            assert torch.equal(value, global_weights[key]), key

    straight, _ = train(local(4), tmp_path / "a")  # 2 steps per epoch
    after_first = load_checkpoint(straight.path / "checkpoints" / "epoch_0001.pt")["nets"]["G"]
    final = load_checkpoint(straight.path)["nets"]["G"]
    global_keys = [k for k in final if k.startswith("model.")]
    enhancer_keys = [k for k in final if k.startswith("model1_")]
    assert all(torch.equal(after_first[k], global_weights[k]) for k in global_keys)
    assert not any(torch.equal(after_first[k], final[k]) for k in enhancer_keys)
    assert not all(torch.equal(final[k], global_weights[k]) for k in global_keys)

    halves, _ = train(local(2), tmp_path / "b")  # stop exactly at the epoch boundary
    resume(halves.path, {"max_steps": 4})
    _nets_equal(straight.path, halves.path)


def test_instance_features_cluster_into_styles_that_translate(city, tmp_path) -> None:
    run, _ = train(tiny_pix2pixhd_config(city, {"max_steps": 4}, instance_feat=True),
                   tmp_path / "runs")
    labels, instances = _test_labels(city, tmp_path)
    with pytest.raises(ValueError, match="run 'img2img features RUN' first"):
        load_inference_model(run.path, instances=instances)

    result = encode_run_features(run.path, n_clusters=3, seed=0)
    clusters = result.clusters
    assert result.images == 8 and clusters.styles == 3 and clusters.step == 4
    assert 26 in clusters.centres and 7 in clusters.centres  # cars and road
    assert all(c.shape[1] == 3 for c in clusters.centres.values())
    stored = load_checkpoint(run.path)["extra"]["features"]
    assert torch.equal(stored["centres"][26], clusters.centres[26])
    with pytest.raises(ValueError, match="already holds feature centres"):
        encode_run_features(run.path)

    def translate(out: str, **options) -> dict[str, np.ndarray]:
        model = load_inference_model(run.path, instances=instances, **options)
        summary = translate_files(model, plan_outputs(labels, tmp_path / out), batch_size=2)
        assert not summary.failed
        return {p.name: np.asarray(Image.open(p)) for p in sorted((tmp_path / out).iterdir())}

    styled = translate("style1", style=1)
    assert len(styled) == 3 and all(a.shape == (128, 256, 3) for a in styled.values())
    every = translate("all", all_styles=True)
    assert len(every) == 9 and sum(k.endswith("_style1.png") for k in every) == 3
    for name, array in styled.items():
        assert np.array_equal(every[name.replace(".png", "_style1.png")], array)
    first = translate("random_a", style="random", seed=3)
    again = translate("random_b", style="random", seed=3)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    other = translate("random_c", style="random", seed=4)
    assert any(not np.array_equal(first[k], other[k]) for k in first)

    _, more = resume(run.path, {"max_steps": 5})  # the centres survive further training
    assert more.step == 5
    assert "features" in load_checkpoint(run.path)["extra"]


def test_a_class_id_beyond_label_nc_stops_training_naming_the_file(city, tmp_path) -> None:
    config = tiny_pix2pixhd_config(city, {"max_steps": 2}, label_nc=20)
    with pytest.raises(LabelValueError, match=r"gtFine_labelIds\.png: class id 33 is outside"):
        train(config, tmp_path / "runs")
    assert not any((tmp_path / "runs").iterdir())


def test_init_from_a_generator_that_does_not_fit_fails_before_the_run(city, tmp_path) -> None:
    coarse, _ = train(tiny_pix2pixhd_config(city, {"max_steps": 1}), tmp_path / "g")  # ngf 8
    config = tiny_pix2pixhd_config(city, {"max_steps": 1}, netG="local", ngf=8,
                                   init_from=str(coarse.path))
    with pytest.raises(ConfigError, match=r"--init-from .*--ngf 2N"):
        train(config, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_published_generator_translates_label_maps(city, tmp_path) -> None:
    config = tiny_pix2pixhd_config(city)
    net = type(build_recipe(config)).build_generator(config.model, init=True)
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
