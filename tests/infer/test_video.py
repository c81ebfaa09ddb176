"""Videos: a clip the test writes itself, translated frame by frame and read back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from img2img.data.video import VideoReader, VideoWriter
from img2img.infer.batch import Translator, prepare
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.models.inference import InferenceModel
from img2img.nn import create_generator
from tests.conftest import write_clip

FPS = 12.0  # the clips write_clip writes


def _model() -> InferenceModel:
    """A real registry generator (CycleGAN's kind, tiny), whose output follows its input."""
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4, norm="instance").eval()
    return InferenceModel(net, "cyclegan", "resnet_6blocks", 3, 3, test_mode="eval")


def _frames(path: Path) -> tuple[list[torch.Tensor], VideoReader]:
    with VideoReader(path) as reader:
        return list(reader), reader


def test_a_clip_round_trips_frame_by_frame(tmp_path):
    src = write_clip(tmp_path / "clip.avi")
    model = _model()
    jobs = plan_outputs(src, tmp_path / "out.avi")
    seen: list[tuple[str, int, int | None]] = []
    summary = translate_files(model, jobs, batch_size=4,  # batches of 4 and 2 frames
                              frame_progress=lambda *a: seen.append(a))
    assert (summary.written, summary.videos, summary.frames, summary.failed) == (1, 1, 6, [])
    assert seen == [("clip.avi", 4, 6), ("clip.avi", 6, 6)]

    outputs, reader = _frames(tmp_path / "out.avi")
    assert (reader.info.fps, reader.info.width, reader.info.height) == (FPS, 44, 28)
    assert len(outputs) == 6
    inputs, _ = _frames(src)
    translator = Translator(model, torch.device("cpu"), "fp32")
    alone = [translator([prepare(jobs[0], model, {"input": frame}, None, None)])[0][1]
             for frame in inputs]
    def smooth(image: torch.Tensor) -> torch.Tensor:  # what a lossy codec keeps
        return torch.nn.functional.avg_pool2d(image[None], 4)[0]

    errors = np.array([[float((smooth(out) - smooth(want)).abs().mean()) for want in alone]
                       for out in outputs])
    assert errors.diagonal().max() < 0.012  # other frames' translations differ by 0.018+
    assert (errors.argmin(axis=1) == np.arange(6)).all()  # each frame's own translation, in order
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "out.avi"]  # no temp file


def test_a_folder_mirrors_videos_and_reports_a_bad_one(tmp_path):
    src = tmp_path / "in"
    write_clip(src / "sub" / "clip.mp4", frames=3)
    (src / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  not really a movie")
    cv2.imwrite(str(src / "still.png"), np.full((20, 24, 3), 90, np.uint8))
    (src / "web.webm").write_bytes(b"")
    jobs = plan_outputs(src, tmp_path / "out", ext="jpg")
    assert {job.key: job.dst.relative_to(tmp_path / "out").as_posix() for job in jobs} == {
        "broken.mov": "broken.mov", "still.png": "still.jpg", "sub/clip.mp4": "sub/clip.mp4",
        "web.webm": "web.mp4",  # a container OpenCV cannot write becomes MP4
    }
    summary = translate_files(_model(), jobs, batch_size=2)
    assert (summary.written, summary.videos, summary.frames) == (2, 1, 3)
    failed = dict(summary.failed)
    assert set(failed) == {src / "broken.mov", src / "web.webm"}
    assert "cannot read video" in failed[src / "broken.mov"]
    outputs, reader = _frames(tmp_path / "out" / "sub" / "clip.mp4")
    assert len(outputs) == 3 and (reader.info.width, reader.info.height) == (44, 28)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["still.jpg", "sub"]


def test_video_outputs_are_planned_by_kind(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=1)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((4, 4, 3), np.uint8))
    assert plan_outputs(clip, tmp_path / "x.avi")[0].dst == tmp_path / "x.avi"
    assert plan_outputs(clip, tmp_path / "out")[0].dst == tmp_path / "out" / "clip.mp4"
    with pytest.raises(ValueError, match="clip.mp4 is a video but output .*x.png names an image"):
        plan_outputs(clip, tmp_path / "x.png")
    with pytest.raises(ValueError, match="a.png is an image but output .*x.mp4 names a video"):
        plan_outputs(image, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="cannot be written as .webm; expected one of: .avi"):
        plan_outputs(clip, tmp_path / "x.webm")


def test_the_writer_leaves_nothing_half_written(tmp_path):
    dst = tmp_path / "v.avi"
    dst.write_bytes(b"an older video")
    frame = torch.rand(3, 8, 8)
    with pytest.raises(RuntimeError, match="stopped"), VideoWriter(dst, FPS) as writer:
        writer.write(frame)
        raise RuntimeError("stopped")
    assert dst.read_bytes() == b"an older video"
    with pytest.raises(OSError, match="frame 1 is 16x8, the video 8x8"), \
            VideoWriter(dst, FPS) as writer:
        writer.write(frame)
        writer.write(torch.rand(3, 8, 16))
    with pytest.raises(OSError, match="no frames to write"), VideoWriter(tmp_path / "e.mp4", 5):
        pass
    with pytest.raises(ValueError, match="cannot write .gif"):
        VideoWriter(tmp_path / "x.gif", FPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.avi"]
    with VideoWriter(dst, FPS) as writer:  # gray frames are written as colour
        writer.write(torch.full((1, 8, 8), 0.5))
    frames, _ = _frames(dst)
    assert len(frames) == 1 and abs(float(frames[0].mean()) - 0.5) < 0.02
