"""Test-time resizing, the side of A|B inputs, 16-bit outputs and the flags errors name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from img2img.cli.app import app
from img2img.config import ConfigError, RunConfig
from img2img.data.discover import split_image_bits
from img2img.data.io import read_image
from img2img.data.transforms import resize_bicubic
from img2img.engine.device import resolve_device
from img2img.families.loading import _reference_model
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.infer.plan import plan_outputs
from img2img.infer.resizing import Resizing, choose_resizing, run_resizing
from img2img.infer.sides import choose_side
from img2img.infer.translate import translate_files
from img2img.models.inference import InferenceModel, take_options
from tests.conftest import tiny_pix2pix_config
from tests.infer.conftest import tiny_generator


def _save(path: Path, h: int, w: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _config(root: Path, **data) -> RunConfig:
    config = tiny_pix2pix_config(root)
    return config.replace(data=dataclasses.replace(config.data, **data))


def _model(net: nn.Module, config: RunConfig | None, channels: int = 3) -> InferenceModel:
    return InferenceModel(net, "pix2pix", "unet_128", channels, channels, test_mode="eval",
                          config=config)


# -- resizing ---------------------------------------------------------------------------------


def test_targets_keep_the_aspect_ratio_for_scale_width() -> None:
    assert Resizing("scale_width", 256).target(1024, 2048) == (128, 256)
    assert Resizing("scale_width", 64).target(100, 30) == (213, 64)
    assert Resizing("resize", 64).target(100, 30) == (64, 64)
    assert Resizing().target(100, 30) == (100, 30)


def test_default_is_the_runs_training_preprocess(tmp_path: Path) -> None:
    hd = _config(tmp_path, preprocess="scale_width", load_size=256, crop_size=128)
    assert run_resizing(hd) == Resizing("scale_width", 256)
    assert run_resizing(_config(tmp_path)) == Resizing("resize", 128)  # load = crop at test
    assert run_resizing(_config(tmp_path, preprocess="none")) == Resizing()
    assert run_resizing(None) == Resizing()  # published weights: their input's size
    assert choose_resizing(hd, None, None, True) == Resizing("scale_width", 256, True)
    assert choose_resizing(hd, "none", None, False) == Resizing()
    assert choose_resizing(hd, None, 512, False) == Resizing("scale_width", 512)
    assert choose_resizing(hd, "resize", None, False) == Resizing("resize", 256)
    assert choose_resizing(None, None, None, False, size=40) == Resizing("resize", 40)
    with pytest.raises(ValueError, match="--size: cannot be combined with --preprocess"):
        choose_resizing(hd, "resize", None, False, size=40)
    with pytest.raises(ValueError, match="--preprocess resize: needs --load-size N"):
        choose_resizing(None, "resize", None, False)
    with pytest.raises(ValueError, match="--load-size 64: needs --preprocess"):
        choose_resizing(None, None, 64, False)
    with pytest.raises(ValueError, match="--load-size: 0 is not valid"):
        choose_resizing(None, "resize", 0, False)


def test_scale_width_and_restore_size(tmp_path: Path) -> None:
    src = _save(tmp_path / "in" / "wide.png", 48, 96)
    model = _model(tiny_generator("unet_128"), None)
    plain = translate_files(model, plan_outputs(src, tmp_path / "a.png"),
                            resizing=Resizing("scale_width", 64))
    back = translate_files(model, plan_outputs(src, tmp_path / "b.png"),
                           resizing=Resizing("scale_width", 64, restore=True))
    assert plain.written == back.written == 1
    small = read_image(tmp_path / "a.png", channels=3)
    assert tuple(small.shape) == (3, 32, 64)  # 64 wide, the aspect ratio kept
    restored = read_image(tmp_path / "b.png", channels=3)
    assert tuple(restored.shape) == (3, 48, 96)
    expected = resize_bicubic(small, (48, 96))  # the small output, resized back
    assert (restored - expected).abs().max() <= 2 / 255


# -- --side -------------------------------------------------------------------------------------


def _side_by_side(root: Path) -> Path:
    for phase in ("train", "test"):
        for n in range(2):
            _save(root / phase / f"{n}.png", 128, 256, seed=n)
    return root


def test_split_of_the_runs_dataset_takes_the_runs_side(tmp_path: Path) -> None:
    root = _side_by_side(tmp_path / "facades")
    model = _model(nn.Identity(), _config(root))
    test = root / "test"
    chosen = choose_side(model, test, plan_outputs(test, tmp_path / "out"), None)
    assert chosen.side == "A" and "--side whole" in (chosen.note or "")
    flipped = _model(nn.Identity(), _config(root, direction="BtoA"))
    assert choose_side(flipped, test / "0.png", plan_outputs(test / "0.png", tmp_path / "o.png"),
                       None).side == "B"
    assert choose_side(model, test, [], "whole").side is None
    assert choose_side(model, test, [], "B").side == "B"


def test_pair_sized_image_elsewhere_is_refused(tmp_path: Path) -> None:
    root = _side_by_side(tmp_path / "facades")
    model = _model(nn.Identity(), _config(root, load_size=142, crop_size=128))
    pair = _save(tmp_path / "elsewhere" / "pair.png", 128, 256)
    jobs = plan_outputs(pair.parent, tmp_path / "out")
    with pytest.raises(ValueError, match=r"pair.png: 256x128 .*--side A or --side B.*--side whole"):
        choose_side(model, pair.parent, jobs, None)
    ordinary = _save(tmp_path / "photos" / "p.png", 100, 150)
    assert choose_side(model, ordinary.parent, plan_outputs(ordinary.parent, tmp_path / "o"),
                       None).side is None
    assert choose_side(_model(nn.Identity(), None), pair.parent, jobs, None).side is None
    labels = dataclasses.replace(model, input_kind="label")  # label maps are never pairs
    assert choose_side(labels, pair.parent, jobs, None).side is None


def test_translate_refuses_a_pair_and_names_the_flags(trained_run: Path, tmp_path: Path) -> None:
    pair = _save(tmp_path / "pairs" / "x.png", 128, 256)  # the run crops 128 px squares
    runner = CliRunner()
    outcome = runner.invoke(app, ["translate", "--model", str(trained_run), str(pair.parent),
                                  str(tmp_path / "out"), "--device", "cpu"])
    assert outcome.exit_code == 2
    text = " ".join(outcome.output.split())
    assert "--side A or --side B" in text and "--side whole" in text
    whole = runner.invoke(app, ["translate", "--model", str(trained_run), str(pair.parent),
                                str(tmp_path / "out"), "--device", "cpu", "--side", "whole",
                                "--restore-size"])
    assert whole.exit_code == 0, whole.output
    assert tuple(read_image(tmp_path / "out" / "x.png").shape[-2:]) == (128, 256)
    wrong = runner.invoke(app, ["translate", "--model", str(trained_run), str(pair.parent),
                                str(tmp_path / "o2"), "--direction", "BtoA"])
    assert wrong.exit_code == 2
    assert "--direction: not used by pix2pix models; they take: --eval, --no-dropout, --seed" \
        in " ".join(wrong.output.split())


# -- flags in errors ------------------------------------------------------------------------------


def test_errors_name_the_flags_users_type() -> None:
    with pytest.raises(ValueError, match=r"^--no-dropout, --eval: an exported model"):
        _reference_model({"family": "pix2pix"}, {"test_mode": "eval", "dropout": False})
    with pytest.raises(ValueError, match=r"^--seed: not used by x models; they take: --eval$"):
        take_options("x", {"seed": 3}, ["test_mode"])
    with pytest.raises(ConfigError, match=r"^--device: 'cuda:99'"):
        resolve_device("cuda:99")


# -- 16 bits ------------------------------------------------------------------------------------


def test_sixteen_bit_round_trip(tmp_path: Path) -> None:
    deep = np.random.default_rng(1).integers(0, 65536, (20, 24), dtype=np.uint16)
    src = tmp_path / "in" / "scan.png"
    src.parent.mkdir()
    cv2.imwrite(str(src), deep)
    config = _config(tmp_path, image_bits=16)
    identity = _model(nn.Identity(), config, channels=1)
    translate_files(identity, plan_outputs(src, tmp_path / "out16.png"))
    out = cv2.imread(str(tmp_path / "out16.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - deep).max() <= 1
    # 8 bits: asked for, or a model trained on 8-bit images (old runs: no image_bits)
    translate_files(identity, plan_outputs(src, tmp_path / "out8.png"), output_bits=8)
    old = _model(nn.Identity(), _config(tmp_path), channels=1)
    translate_files(old, plan_outputs(src, tmp_path / "old.png"))
    for name in ("out8.png", "old.png"):
        eight = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert eight.dtype == np.uint8
        assert np.abs(eight.astype(int) - np.rint(deep / 257)).max() <= 1
    translate_files(old, plan_outputs(src, tmp_path / "forced.png"), output_bits=16)
    assert cv2.imread(str(tmp_path / "forced.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    with pytest.raises(ValueError, match=r"--output-bits 16: .*x.jpg cannot hold 16 bits"):
        translate_files(old, plan_outputs(src, tmp_path / "x.jpg"), output_bits=16)


def test_runs_record_their_images_bits(tmp_path: Path) -> None:
    for phase in ("A", "B"):
        (tmp_path / "train" / phase).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "train" / phase / "1.png"), np.full((8, 8), 4000, np.uint16))
    assert split_image_bits(tmp_path, "train") == 16
    _save(tmp_path / "eight" / "train" / "A" / "1.png", 8, 8)
    _save(tmp_path / "eight" / "train" / "B" / "1.png", 8, 8)
    assert split_image_bits(tmp_path / "eight", "train") == 8
    assert split_image_bits(tmp_path / "missing", "train") == 8
    saved = _config(tmp_path).to_dict()
    del saved["data"]["image_bits"]  # a run from before image_bits was recorded
    assert RunConfig.from_dict(saved, Pix2PixConfig).data.image_bits == 8
    with pytest.raises(ConfigError, match="image_bits: 12"):
        _config(tmp_path, image_bits=12)


def test_folder_evaluation_scores_outputs_at_the_runs_size(tmp_path: Path) -> None:
    from img2img.evaluation.run import evaluate_folders
    from img2img.evaluation.score import plan_metrics

    real = _save(tmp_path / "real" / "x.png", 64, 64)
    with Image.open(real) as image:  # the output of a run trained at 32 px
        image.resize((32, 32), Image.BICUBIC).save(tmp_path / "fake.png")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake.png").rename(tmp_path / "fake" / "x.png")
    evaluation, _ = evaluate_folders(tmp_path / "real", tmp_path / "fake",
                                     lambda paired: plan_metrics(["L1"], paired=paired))
    assert evaluation.failures == [] and len(evaluation.per_image) == 1
    assert evaluation.metrics["L1"] < 0.1
