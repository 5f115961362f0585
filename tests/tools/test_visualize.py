"""tools/visualize.py: the localisation map peaks at a single source (audio and video geometry), each mode writes a
PNG of the figure's fixed size, and the curves come from the run's TensorBoard events."""

import math
import os
import struct

import pytest
import torch

from datasets import build_dataset
from engine.schema import PRETRAIN_SCHEMA
from utils.ambisonics import ACN_X, encode_foa
from utils.config import load_config
from utils.spherical import angular_distance, equirect_angles
from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_tool():
    return load_script("tools/visualize.py")


vis = _load_tool()


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def expected_size(mode):
    width, height = vis.FIGURE_SIZE[mode]
    return round(width * vis.DPI), round(height * vis.DPI)


def frontal_beam_power(clips, foa, azimuth, elevation):
    """An independent scorer: power of a hypercardioid beam to the front of the ROTATED field (0.25 W + 0.75 X)."""
    beam = 0.25 * foa[:, 0] + 0.75 * foa[:, 3]
    return beam.pow(2).mean(-1)


def _peak(scores):
    azimuth, elevation = equirect_angles(*scores.shape)
    row, col = divmod(int(scores.argmax()), scores.shape[1])
    return azimuth[col], elevation[row]


@pytest.mark.parametrize("source_deg", [(100.0, 20.0), (-135.0, -35.0), (5.0, 0.0)])
def test_localization_map_peaks_within_15_degrees_of_a_single_audio_source(source_deg):
    az, el = (math.radians(v) for v in source_deg)
    noise = torch.randn(400, generator=torch.Generator().manual_seed(0))
    foa = encode_foa(noise, torch.tensor(az), torch.tensor(el))
    frames = torch.randint(0, 255, (1, 3, 16, 32), dtype=torch.uint8)
    scores = vis.localization_map(frames, foa, frontal_beam_power, step_deg=10.0, crop_size=4)
    assert scores.shape == (18, 36)
    peak_az, peak_el = _peak(scores)
    distance = angular_distance(peak_az, peak_el, torch.tensor(az), torch.tensor(el))
    assert math.degrees(distance) < 15.0


def test_localization_map_video_crops_look_where_the_grid_says():
    # A red disc of 8° radius at (−60°, −10°) on a grey frame; score = redness of the crop's centre pixels.
    height, width = 90, 180
    x = (torch.arange(width) + 0.5) / width
    y = (torch.arange(height) + 0.5) / height
    azimuth = (math.pi * (1 - 2 * x))[None, :].expand(height, -1)
    elevation = (math.pi / 2 * (1 - 2 * y))[:, None].expand(-1, width)
    disc = angular_distance(azimuth, elevation, torch.tensor(math.radians(-60)), torch.tensor(math.radians(-10)))
    frame = torch.full((1, 3, height, width), 128, dtype=torch.uint8)
    frame[0, 0][disc < math.radians(8)] = 255
    frame[0, 1][disc < math.radians(8)] = 0

    def redness(clips, foa, az, el):
        centre = clips[:, :, 0, 3:5, 3:5]
        return (centre[:, 0] - centre[:, 1]).mean((-1, -2))

    scores = vis.localization_map(frame, torch.zeros(4, 8), redness, step_deg=10.0, fov_deg=20.0, crop_size=8)
    peak_az, peak_el = _peak(scores)
    assert math.degrees(angular_distance(peak_az, peak_el, torch.tensor(math.radians(-60)),
                                         torch.tensor(math.radians(-10)))) < 15.0


def test_viewpoint_outline_breaks_at_the_seam():
    xs, ys = vis.viewpoint_outline(math.pi, 0.0, math.radians(60), math.radians(60), 360, 180)
    assert any(math.isnan(v) for v in xs)  # a view centred on the seam is drawn in two pieces
    finite = [v for v in xs if not math.isnan(v)]
    assert min(finite) < 40 and max(finite) > 320
    xs, _ = vis.viewpoint_outline(0.0, 0.0, math.radians(60), math.radians(60), 360, 180)
    assert not any(math.isnan(v) for v in xs) and 145 < min(xs) and max(xs) < 215  # ±30° around the centre


def test_localize_plot_and_segmentation_plot_write_pngs_of_the_figure_size(tmp_path):
    frame = torch.randint(0, 255, (3, 40, 80), dtype=torch.uint8)
    path = vis.plot_localization(str(tmp_path / "loc.png"), frame, torch.rand(18, 36), "test", [(0.5, 0.1)])
    assert png_size(path) == expected_size("localize")
    crops = torch.randint(0, 255, (3, 3, 16, 16), dtype=torch.uint8)
    labels = torch.randint(0, 32, (3, 16, 16))
    labels[0, :2] = 255
    path = vis.plot_segmentation(str(tmp_path / "seg.png"), crops, labels, labels.flip(-1), 32, "t")
    assert png_size(path) == expected_size("segmentation")


def test_curves_from_tensorboard_events(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "run" / "tensorboard"))
    for step in range(1, 21):
        writer.add_scalar("train/loss", 5.0 - 0.1 * step, step)
        writer.add_scalar("train/lr", 1e-3, step)
    for epoch in (1, 2):
        writer.add_scalar("test/AVSA-Acc/V2A", 25.0 + 10 * epoch, epoch)
    writer.close()
    scalars = vis.read_scalars(str(tmp_path / "run"))
    assert scalars["test/AVSA-Acc/V2A"] == [(1, 35.0), (2, 45.0)]
    assert scalars["train/loss"][-1] == (20, pytest.approx(3.0))
    assert vis.main(["curves", str(tmp_path / "run"), "--out", str(tmp_path / "curves.png")]) == 0
    assert png_size(tmp_path / "curves.png") == expected_size("curves")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from datasets.synthetic import generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), "tiny", seed=0, workers=1, log=lambda *_: None)
    return root


def test_sample_and_localize_commands_on_a_synthetic_scene(tiny_data, tmp_path):
    config = os.path.join(ROOT, "configs", "demo", "avsa.yaml")
    data = [f"dataset.root={tiny_data / 'yt360'}", "model.video.width=4", "model.audio.width=4"]
    sets = [arg for text in data for arg in ("--set", text)]
    assert vis.main(["sample", config, *sets, "--out", str(tmp_path / "sample.png")]) == 0
    assert png_size(tmp_path / "sample.png") == expected_size("sample")
    # the CLI path of localize: a (random) model saved as a pre-training checkpoint
    from criterions import build_criterion
    from engine.schema import PRETRAIN_SCHEMA
    from models import build_model
    from utils.checkpoint import save_checkpoint
    from utils.config import load_config

    cfg = load_config(config, data, schema=PRETRAIN_SCHEMA)
    model = build_model(cfg["model"], load_init=False)
    criterion = build_criterion(cfg["loss"], feature_dim=model.out_dim)
    save_checkpoint({"model": model.state_dict(), "criterion": criterion.state_dict()}, str(tmp_path / "c.pth"))
    assert vis.main(["localize", config, *sets, "--checkpoint", str(tmp_path / "c.pth"), "--step", "30",
                     "--out", str(tmp_path / "loc.png")]) == 0
    assert png_size(tmp_path / "loc.png") == expected_size("localize")


def test_sample_figure_shows_the_datasets_own_sample(tiny_data, tmp_path, monkeypatch):
    """The views drawn and the log-mels shown are those of the dataset's sample at that index (its draws from its
    per-sample generator), for the test split and a moment of the train split."""
    config = os.path.join(ROOT, "configs", "demo", "avsa.yaml")
    shown = {}
    monkeypatch.setattr(vis, "plot_sample", lambda path, frame, power, views, crops, mels: shown.update(
        views=views, crops=crops, mels=mels) or path)
    for split in ("test", "train"):
        data = [f"dataset.root={tiny_data / 'yt360'}", "dataset.decode_cache_mb=0", "dataset.decode_cache_dir=null"]
        vis.main(["sample", config, "--split", split, "--index", "2", *(a for d in data for a in ("--set", d)),
                  "--out", str(tmp_path / "s.png")])
        cfg = load_config(config, data, schema=PRETRAIN_SCHEMA)
        dataset = build_dataset(cfg["dataset"], split, seed=cfg["seed"])
        sample = dataset[2]
        num_views = cfg["dataset"]["viewpoints"]["num"]
        assert shown["crops"].shape == (num_views, 3, 96, 96) and shown["crops"].dtype == torch.uint8
        assert torch.equal(shown["mels"], sample["audio"][:num_views, ACN_X])
        azimuth = sample["position"][:num_views, 0]
        if split == "train" and not torch.equal(shown["views"]["azimuth"], azimuth):  # a flipped sample
            azimuth = -azimuth
        assert torch.equal(shown["views"]["azimuth"], azimuth)
        assert torch.equal(shown["views"]["elevation"], sample["position"][:num_views, 1])


def test_segmentation_figure_of_a_directory_without_results_is_a_config_error(tmp_path):
    from utils.errors import ConfigError

    (tmp_path / "fold-01").mkdir()  # a fold directory that never finished: no results.json anywhere
    with pytest.raises(ConfigError, match="no results.json"):
        vis.main(["segmentation", str(tmp_path), "--out", str(tmp_path / "seg.png")])
    assert not (tmp_path / "seg.png").exists()


def test_segmentation_figure_of_a_benchmark_directory_reads_its_only_fold(tmp_path):
    from utils.errors import ConfigError

    (tmp_path / "fold-01").mkdir()
    (tmp_path / "fold-01" / "results.json").write_text("{}")
    # It descends into fold-01: the next thing read is that fold's config.yaml (absent here), named in the error.
    with pytest.raises(ConfigError, match=r"fold-01[/\\]config\.yaml"):
        vis.main(["segmentation", str(tmp_path), "--out", str(tmp_path / "seg.png")])
