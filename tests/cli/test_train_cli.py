"""``img2img train``: resuming any run, what a resume may change, and checks before writing."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from img2img.cli import app

runner = CliRunner()

TINY = ["--netG", "unet_128", "--ngf", "4", "--ndf", "4", "--input-nc", "1", "--load-size",
        "142", "--crop-size", "128", "--batch-size", "2", "--num-workers", "0", "--device", "cpu"]


def _words(text: str) -> str:
    return " ".join(text.split())


def _train(data, runs, *options: str):
    return runner.invoke(app, ["train", "pix2pix", "--data", str(data), "--runs-dir", str(runs),
                               *TINY, *options])


def test_resume_without_family_changes_only_what_it_may(gray2color, tmp_path):
    runs = tmp_path / "runs"
    assert _train(gray2color, runs, "--max-steps", "1", "--name", "r").exit_code == 0
    run = runs / "r"
    latest = run / "checkpoints" / "latest.pt"
    before = latest.read_bytes()

    dry = runner.invoke(app, ["train", "--resume", str(run), "--max-steps", "2", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would resume from step 1 (max_steps=2)" in _words(dry.output)
    assert latest.read_bytes() == before and not (run / "resumes.jsonl").exists()

    refused = runner.invoke(app, ["train", "pix2pix", "--resume", str(run), "--lr", "0.5",
                                  "--batch-size", "4", "--data", str(tmp_path / "nowhere")])
    assert refused.exit_code == 2
    message = _words(refused.output)
    assert "--batch-size, --lr: cannot change when resuming" in message
    assert "--max-steps" in message  # says what may change
    assert latest.read_bytes() == before

    resumed = runner.invoke(app, ["train", "--resume", str(run), "--max-steps", "2",
                                  "--log-every", "1", "--num-workers", "0"])
    assert resumed.exit_code == 0, resumed.output
    config = json.loads((run / "config.json").read_text())
    assert (config["train"]["max_steps"], config["train"]["log_every"]) == (2, 1)
    record = json.loads((run / "resumes.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 1
    assert record["changes"] == {"max_steps": 2, "log_every": 1, "num_workers": 0}
    info = json.loads(runner.invoke(app, ["info", str(run), "--json"]).output)
    assert info["step"] == 2


def test_sizes_the_networks_cannot_take_fail_before_any_folder(gray2color, tmp_path):
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["train", "pix2pix", "--data", str(gray2color), "--runs-dir",
                                 str(runs), "--netG", "unet_256", "--ngf", "4", "--ndf", "4",
                                 "--load-size", "142", "--crop-size", "128", "--device", "cpu"])
    assert result.exit_code == 2
    assert "--crop-size 128" in _words(result.output) and "unet_256" in result.output
    assert not runs.exists() or not any(runs.iterdir())


def test_train_without_family_or_resume_shows_help():
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 0 and "pix2pix" in result.output and "--resume" in result.output


def test_shell_completion_is_offered():
    assert "--install-completion" in runner.invoke(app, ["--help"]).output


def test_model_that_is_not_a_checkpoint_is_one_line(tmp_path):
    (tmp_path / "notes.pt").write_text("not weights")
    (tmp_path / "in").mkdir()
    result = runner.invoke(app, ["translate", "--model", str(tmp_path / "notes.pt"),
                                 str(tmp_path / "in"), str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 2
    assert "notes.pt: not a PyTorch checkpoint or state_dict" in _words(result.output)
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output


def test_eval_test_mode_is_used_and_reported(gray2color, tmp_path):
    assert _train(gray2color, tmp_path / "runs", "--max-steps", "1", "--name", "m").exit_code == 0
    command = ["translate", "--model", str(tmp_path / "runs" / "m"),
               str(gray2color / "test" / "A"), str(tmp_path / "out"), "--device", "cpu"]
    result = runner.invoke(app, [*command, "--eval"])
    assert result.exit_code == 0, result.output
    assert "test mode: eval" in _words(result.output)
    paper = runner.invoke(app, [*command[:-3], str(tmp_path / "paper"), "--device", "cpu"])
    assert "test mode: paper" in _words(paper.output)


def test_a_dataset_of_only_corrupt_files_fails_before_any_folder(tmp_path):
    data = tmp_path / "broken"
    for side in ("A", "B"):
        (data / "train" / side).mkdir(parents=True)
        for i in range(3):
            (data / "train" / side / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    runs = tmp_path / "runs"
    result = _train(data, runs, "--max-steps", "1")
    assert result.exit_code == 2 and result.output.count("Error:") == 1
    message = _words(result.output)
    assert "none of the 3 examples can be read; training would fail" in message
    assert "A/0.png: unreadable (not an image file" in message
    assert not runs.exists() or not any(runs.iterdir())


def test_devices_checks_options_and_data_once_before_starting_processes(gray2color, tmp_path,
                                                                        monkeypatch):
    import img2img.cli.devices as devices

    started = []
    monkeypatch.setattr(devices, "launch_processes", lambda *args: started.append(args) or 0)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    small = _train(gray2color, tmp_path / "runs", "--crop-size", "64", "--devices", "2")
    assert small.exit_code == 2 and _words(small.output).count("Error") == 1, small.output
    assert "unet_128 needs height and width of at least 128" in _words(small.output)
    good = _train(gray2color, tmp_path / "runs", "--devices", "2", "--max-steps", "1")
    assert good.exit_code == 0, good.output
    assert started == [(2, sys.argv[1:])]  # the same command line, started twice over
    assert not (tmp_path / "runs").exists()  # the processes write the run, not the launcher


def test_devices_checks_a_resume_once_before_starting_processes(gray2color, tmp_path,
                                                                monkeypatch):
    import img2img.cli.devices as devices

    runs = tmp_path / "runs"
    first = _train(gray2color, runs, "--max-steps", "1", "--name", "run")
    assert first.exit_code == 0, first.output
    started = []
    monkeypatch.setattr(devices, "launch_processes", lambda *args: started.append(args) or 0)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    resume = ["train", "--resume", str(runs / "run"), "--devices", "2"]
    refused = runner.invoke(app, [*resume, "--data", str(tmp_path / "gone")])
    assert refused.exit_code == 2 and _words(refused.output).count("Error") == 1, refused.output
    assert "gone" in _words(refused.output)
    wrong = runner.invoke(app, ["train", "cyclegan", "--resume", str(runs / "run"),
                                "--devices", "2"])
    assert wrong.exit_code == 2 and "is a pix2pix run, not cyclegan" in _words(wrong.output)
    assert started == []  # nothing started for a resume that would fail
    good = runner.invoke(app, [*resume, "--max-steps", "2"])
    assert good.exit_code == 0, good.output
    assert started == [(2, sys.argv[1:])]
    assert not (runs / "run" / "resumes.jsonl").exists()  # the check wrote nothing


def _count_discoveries(monkeypatch) -> tuple[list[str], list[int]]:
    """The splits pix2pix's discovery is asked for, and one entry per check of a run's data."""
    import img2img.data.dataset as dataset
    import img2img.prep.check as check

    phases: list[str] = []
    checks: list[int] = []
    find, check_run_data = dataset.find_pairs, check.check_run_data

    def counted_find(root, phase):
        phases.append(phase)
        return find(root, phase)

    def counted_check(*args, **kwargs):
        checks.append(1)
        return check_run_data(*args, **kwargs)

    monkeypatch.setattr(dataset, "find_pairs", counted_find)
    monkeypatch.setattr(check, "check_run_data", counted_check)
    return phases, checks


def test_a_run_discovers_and_checks_its_data_once(gray2color, tmp_path, monkeypatch):
    phases, checks = _count_discoveries(monkeypatch)
    result = _train(gray2color, tmp_path / "runs", "--max-steps", "1")
    assert result.exit_code == 0, result.output
    assert "data: " in result.output  # the check's line
    assert phases.count("train") == 1 and checks == [1]
    assert phases.count("val") == 1  # the split sample grids come from, looked for once
    phases.clear(), checks.clear()
    dry = _train(gray2color, tmp_path / "runs", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert phases.count("train") == 1 and checks == [1]


def test_devices_discovers_and_checks_once_and_its_processes_only_discover(
        gray2color, tmp_path, monkeypatch):
    import img2img.cli.devices as devices
    import img2img.lifeline as lifeline

    phases, checks = _count_discoveries(monkeypatch)
    monkeypatch.setattr(devices, "launch_processes", lambda *args: 0)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    launcher = _train(gray2color, tmp_path / "runs", "--devices", "2", "--max-steps", "1")
    assert launcher.exit_code == 0, launcher.output
    assert phases.count("train") == 1 and checks == [1]
    # a process the launcher started (here the only one): its data was checked already
    phases.clear(), checks.clear()
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(lifeline, "follow_launcher", lambda: True)
    process = _train(gray2color, tmp_path / "runs", "--devices", "2", "--max-steps", "1")
    assert process.exit_code == 0, process.output
    assert phases.count("train") == 1 and checks == []
