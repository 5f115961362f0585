"""tools/visualize.py (tools/figures/): the localisation map peaks at a single source (audio and video geometry), the
per-view audio panels show the FOA rotated toward each view (checked against the rotation written out by hand), the
method and sample figures show the dataset's own sample, the contrastive pairs are the loss's candidates, the
segmentation legend names the classes shown, the curves read the tags the engine writes, and each mode writes a PNG of
its fixed size."""

import importlib.util
import math
import os
import struct

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from criterions import build_criterion
from criterions.infonce import candidate_logits
from datasets import build_dataset
from datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from datasets.synthetic import generate
from engine import fit, start_run
from engine.schema import PRETRAIN_SCHEMA
from models import build_model
from utils.ambisonics import encode_foa, rotate_foa
from utils.checkpoint import save_checkpoint
from utils.config import load_config
from utils.errors import ConfigError
from utils.spherical import angular_distance, equirect_angles
from tests.scripts import load_script
from tools.figures.data import localization_map, read_scalars, view_audio
from tools.figures.method import EASY, HARD, NOT_A_CANDIDATE, POSITIVE, contrastive_pairs
from tools.figures.panels import DPI, ENERGY_FLOOR_DB, FIGURE_SIZE, viewpoint_outline
from tools.figures.results import IGNORE_NAME, plot_curves, plot_segmentation, segmentation_colours
from tools.figures.scene import plot_localization

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


vis = load_script("tools/visualize.py")


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def expected_size(mode):
    width, height = FIGURE_SIZE[mode]
    return round(width * DPI), round(height * DPI)


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the tool saves, in order (still inspectable after it closes them)."""
    figures = []
    savefig = Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def axes_named(fig, label):
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    return ax


def view_basis(azimuth, elevation):
    """(3, 3) rows: the view's front, left and up as (X, Y, Z) vectors, written out by hand (front = the view's
    direction; left = horizontal, 90° counter-clockwise; up = front × … completing a right-handed frame)."""
    ca, sa, ce, se = math.cos(azimuth), math.sin(azimuth), math.cos(elevation), math.sin(elevation)
    return torch.tensor([[ca * ce, sa * ce, se], [-sa, ca, 0.0], [-ca * se, -sa * se, ce]], dtype=torch.float64)


def foa_toward(foa, azimuth, elevation):
    """(4, S) ambiX → (W, Y′, Z′, X′) of the field seen from the view, through `view_basis`."""
    xyz = foa.double()[[3, 1, 2]]
    front, left, up = view_basis(azimuth, elevation) @ xyz
    return torch.stack([foa.double()[0], left, up, front])


def independent_energy_db(foa, views):
    """(K, 4): dB re W of W, Y′, Z′, X′ of ``foa`` (4, S) seen from each view."""
    rows = []
    for az, el in zip(views["azimuth"].tolist(), views["elevation"].tolist()):
        power = foa_toward(foa, az, el).pow(2).mean(-1)
        rows.append(10 * torch.log10(power / power[0]))
    return torch.stack(rows)


def frontal_fraction(foa):
    """(N, 4, S) FOA rotated toward each crop -> (N, 2): the share of a hypercardioid beam to the rotated front
    (0.25 W + 0.75 X) in the field's power, and the rest: a physical "sound in front" feature."""
    beam = (0.25 * foa[:, 0] + 0.75 * foa[:, 3]).pow(2).mean(-1)
    share = beam / foa[:, 0].pow(2).mean(-1).clamp_min(1e-12)
    return torch.stack([share, 1 - share], dim=1)


def expects_sound_in_front(clips, foa, azimuth, elevation):
    """Every crop predicts "sound in front"; the audio's target is its frontal share."""
    return torch.tensor([[1.0, 0.0]]).expand(len(foa), -1), frontal_fraction(foa)


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
    scores = localization_map(frames, foa, expects_sound_in_front, step_deg=10.0, crop_size=4)
    assert scores.shape == (18, 36)
    peak_az, peak_el = _peak(scores)
    distance = angular_distance(peak_az, peak_el, torch.tensor(az), torch.tensor(el))
    assert math.degrees(distance) < 15.0


def test_localization_map_peaks_where_the_crop_shows_the_object_it_hears():
    """A red disc of 8° radius at (−60°, −10°) on a grey frame, and its sound from there. A red crop predicts "sound in
    front", a grey one "no sound in front", which many rotations of the audio fit."""
    height, width = 90, 180
    x = (torch.arange(width) + 0.5) / width
    y = (torch.arange(height) + 0.5) / height
    azimuth = (math.pi * (1 - 2 * x))[None, :].expand(height, -1)
    elevation = (math.pi / 2 * (1 - 2 * y))[:, None].expand(-1, width)
    source = torch.tensor(math.radians(-60)), torch.tensor(math.radians(-10))
    disc = angular_distance(azimuth, elevation, *source)
    frame = torch.full((1, 3, height, width), 128, dtype=torch.uint8)
    frame[0, 0][disc < math.radians(8)] = 255
    frame[0, 1][disc < math.radians(8)] = 0
    foa = encode_foa(torch.randn(400, generator=torch.Generator().manual_seed(1)), *source)

    def red_means_sound_in_front(clips, foa, az, el):
        centre = clips[:, :, 0, 3:5, 3:5]
        red = (centre[:, 0] - centre[:, 1]).mean((-1, -2)).clamp(0, 1)
        return torch.stack([red, 1 - red], dim=1), frontal_fraction(foa)

    scores = localization_map(frame, foa, red_means_sound_in_front, temperature=0.1, step_deg=10.0, fov_deg=20.0,
                              crop_size=8)
    peak_az, peak_el = _peak(scores)
    assert math.degrees(angular_distance(peak_az, peak_el, *source)) < 15.0
    # The crop toward the disc picks its own sound out of the 648 rotations better than chance.
    assert float(scores.max()) > -math.log(scores.numel()) + 0.5


def test_localization_map_is_the_v2a_log_softmax_over_every_grid_direction():
    """Step 90°: 2 × 4 directions at azimuths 135°, 45°, −45°, −135°. With prediction = target = (cos az, sin az)
    the logits are cos(az_i − az_j) / τ: each row holds 1 twice (same azimuth, both elevations), 0 four times and −1
    twice, so every direction scores 1/τ − log(2·e^(1/τ) + 4 + 2·e^(−1/τ))."""

    def azimuth_vectors(clips, foa, az, el):
        vectors = torch.stack([az.cos(), az.sin()], dim=1)
        return vectors, vectors

    frames = torch.zeros(1, 3, 8, 16, dtype=torch.uint8)
    scores = localization_map(frames, torch.zeros(4, 8), azimuth_vectors, temperature=0.5, step_deg=90.0,
                              crop_size=4, chunk=3)
    expected = 2.0 - math.log(2 * math.exp(2.0) + 4 + 2 * math.exp(-2.0))
    assert scores.shape == (2, 4)
    assert torch.allclose(scores, torch.full((2, 4), expected), atol=1e-5)


def test_viewpoint_outline_breaks_at_the_seam():
    xs, ys = viewpoint_outline(math.pi, 0.0, math.radians(60), math.radians(60), 360, 180)
    assert any(math.isnan(v) for v in xs)  # a view centred on the seam is drawn in two pieces
    finite = [v for v in xs if not math.isnan(v)]
    assert min(finite) < 40 and max(finite) > 320
    xs, _ = viewpoint_outline(0.0, 0.0, math.radians(60), math.radians(60), 360, 180)
    assert not any(math.isnan(v) for v in xs) and 145 < min(xs) and max(xs) < 215  # ±30° around the centre


def test_localize_plot_and_segmentation_plot_write_pngs_of_the_figure_size(tmp_path):
    frame = torch.randint(0, 255, (3, 40, 80), dtype=torch.uint8)
    path = plot_localization(str(tmp_path / "loc.png"), frame, torch.rand(18, 36), "test", [(0.5, 0.1)])
    assert png_size(path) == expected_size("localize")
    crops = torch.randint(0, 255, (3, 3, 16, 16), dtype=torch.uint8)
    labels = torch.randint(0, 32, (3, 16, 16))
    labels[0, :2] = 255
    path = plot_segmentation(str(tmp_path / "seg.png"), crops, labels, labels.flip(-1),
                                 [f"c{i}" for i in range(32)], "t")
    assert png_size(path) == expected_size("segmentation")


def test_view_audio_of_a_plane_wave_seen_from_views_around_it():
    """One plane wave from (40°, 20°); views at several directions: X′ is 20·log10|cos θ| dB re W (θ the angle
    between source and view), the intensity points to the source as seen from the view, with strength 1."""
    source_az, source_el = math.radians(40), math.radians(20)
    noise = torch.randn(2000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    foa = encode_foa(noise, torch.tensor(source_az), torch.tensor(source_el))
    view_az = torch.tensor([0.0, 0.7, 2.0, -1.5, 3.0])
    view_el = torch.tensor([0.0, 0.35, -0.2, 0.1, 0.5])
    audio = view_audio(rotate_foa(foa.expand(5, -1, -1), view_az, view_el))
    source = torch.tensor([math.cos(source_az) * math.cos(source_el), math.sin(source_az) * math.cos(source_el),
                           math.sin(source_el)], dtype=torch.float64)
    for k in range(5):
        front, left, up = view_basis(float(view_az[k]), float(view_el[k])) @ source  # the source in the view's frame
        assert float(audio["energy_db"][k, 3]) == pytest.approx(20 * math.log10(abs(front)), abs=1e-3)
        assert float(audio["energy_db"][k, 1]) == pytest.approx(20 * math.log10(abs(left)), abs=1e-3)
        assert float(audio["azimuth"][k]) == pytest.approx(math.atan2(left, front), abs=1e-4)
        assert float(audio["elevation"][k]) == pytest.approx(math.asin(up), abs=1e-4)
        assert float(audio["strength"][k]) == pytest.approx(1.0, abs=1e-4)
    assert torch.all(audio["energy_db"][:, 0] == 0)


def test_contrastive_pairs_are_the_candidates_of_the_loss():
    """Which targets the loss gives each prediction of video 0 (criterions.infonce.candidate_logits with target
    (n, c) made recognisable by its logit) against the figure's matrix, for both negative sets."""
    views, videos = 4, 3
    targets = torch.eye(videos * views).reshape(videos, views, -1)  # target (n, c) = unit vector n·K + c
    predictions = torch.arange(1.0, videos * views + 1).expand(1, views, -1)  # logit of (n, c) = n·K + c + 1
    for negatives in ("paper", "reference"):
        same, others = candidate_logits(predictions, targets, 0, negatives, 1.0)
        expected = torch.full((views, videos * views), NOT_A_CANDIDATE)
        for c in range(views):
            for index in (same[0, c].round().long() - 1).tolist():
                expected[c, index] = POSITIVE if index == c else HARD
            for index in (others[0, c].round().long() - 1).tolist():
                expected[c, index] = EASY
        assert torch.equal(contrastive_pairs(views, videos - 1, negatives), expected), negatives


def test_segmentation_legend_names_the_classes_shown(tmp_path, drawn):
    names = [f"class {c}" for c in range(32)]
    crops = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)
    truth = torch.zeros(2, 16, 16, dtype=torch.int64)
    truth[0, :4], truth[1, :, :3], truth[1, 8:] = 17, 5, 255
    prediction = truth.clone()
    prediction[prediction == 255] = 3
    path = plot_segmentation(str(tmp_path / "seg.png"), crops, truth, prediction, names, "t")
    assert png_size(path) == expected_size("segmentation")
    (legend,) = drawn[0].legends
    shown = [t.get_text() for t in legend.get_texts()]
    assert shown == ["class 0", "class 3", "class 5", "class 17", IGNORE_NAME]
    cmap = segmentation_colours(32)
    for patch, c in zip(legend.get_patches(), (0, 3, 5, 17, 255)):
        assert patch.get_facecolor() == pytest.approx(cmap(c))  # the colour the label maps are drawn in
    assert len({cmap(c) for c in range(32)}) == 32 and cmap(255)[:3] == (0, 0, 0)


_tiny_spec = importlib.util.spec_from_file_location(
    "tiny_run", os.path.join(ROOT, "tests", "engine", "tiny_run.py"))
tiny_run = importlib.util.module_from_spec(_tiny_spec)
_tiny_spec.loader.exec_module(tiny_run)


class _PretextNamedTask(tiny_run.ToyTask):
    """The engine's toy task reporting its metrics under the names of the AVSA criterion."""

    def forward(self, batch):
        loss, metrics = super().forward(batch)
        acc = metrics["acc"]
        return loss, {"Loss/V2A": loss.detach(), "AVSA-Acc/V2A": acc, "AVSA-Acc/A2V": acc / 2, "AVC-Acc/V2A": acc / 4}


def test_curves_of_an_engine_run_read_the_tags_it_writes(tmp_path, drawn):
    """A real (toy) run of the training loop: 4 steps per epoch, 3 epochs, a step logged every 3 and at each
    epoch's first. Every accuracy gets its panel with test values at their epochs; per-step tags sit at step / 4;
    legends stand outside their axes."""
    run_dir = str(tmp_path / "run")
    run = start_run(tiny_run.config(log2tb=True, print_freq=3, test_every=1), run_dir, quiet=True)
    try:
        results = fit(run, _PretextNamedTask(), tiny_run.ToyData(32), tiny_run.ToyData(16, seed=1), batch_size=8)
    finally:
        run.close()
    assert vis.main(["curves", run_dir, "--out", str(tmp_path / "curves.png")]) == 0
    assert png_size(tmp_path / "curves.png") == expected_size("curves")
    fig = drawn[0]
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["AVC-Acc", "AVSA-Acc", "loss", "learning rate", "throughput", "data wait"]
    lines = {(ax.get_title(), line.get_label()): line for ax in fig.axes for line in ax.lines}
    test_v2a = lines[("AVSA-Acc", "test V2A")]
    assert list(test_v2a.get_xdata()) == [1, 2, 3]
    assert test_v2a.get_ydata()[-1] == pytest.approx(results["test"]["AVSA-Acc/V2A"])
    assert ("AVSA-Acc", "train (epoch mean) A2V") in lines
    step_loss = lines[("loss", "train (step)")]
    assert list(step_loss.get_xdata()) == pytest.approx([s / 4 for s in (1, 3, 5, 6, 9, 12)])
    renderer = FigureCanvasAgg(fig).get_renderer()  # the layout of the saved PNG
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), ax.get_title()
    plot_curves(str(tmp_path / "c.png"), read_scalars(run_dir), chance=25.0)
    chance = [line for line in drawn[1].axes[1].lines if line.get_label().startswith("chance")]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == [25.0, 25.0]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), "tiny", seed=0, workers=1, log=lambda *_: None)
    return root


def test_localize_command_on_a_synthetic_scene(tiny_data, tmp_path, drawn):
    """The CLI path of localize: (random) models saved as pre-training checkpoints. The map drawn is the checkpoint's:
    log-probabilities on the 6 × 12 grid of --step 30, another checkpoint's weights draw another map, and the same
    checkpoint draws the same map whatever the global random state."""
    config = os.path.join(ROOT, "configs", "demo", "avsa.yaml")
    data = [f"dataset.root={tiny_data / 'yt360'}", "model.video.width=4", "model.audio.width=4"]
    sets = [arg for text in data for arg in ("--set", text)]
    cfg = load_config(config, data, schema=PRETRAIN_SCHEMA)
    maps = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model(cfg["model"], load_init=False)
        criterion = build_criterion(cfg["loss"], feature_dim=model.out_dim)
        state = {"model": model.state_dict(), "criterion": criterion.state_dict()}
        save_checkpoint(state, str(tmp_path / f"{seed}.pth"))
    for seed in (0, 1, 0):
        torch.manual_seed(100 + len(maps))
        assert vis.main(["localize", config, *sets, "--checkpoint", str(tmp_path / f"{seed}.pth"), "--step", "30",
                         "--out", str(tmp_path / "loc.png")]) == 0
        assert png_size(tmp_path / "loc.png") == expected_size("localize")
        maps.append(torch.from_numpy(drawn[-1].axes[1].images[1].get_array().copy()))  # over the frame's image
    # log p(own sound | crop) among the 72 directions: near chance, log(1/72), for an untrained model
    assert maps[0].shape == (6, 12) and float(maps[0].max()) < 0
    assert float(maps[0].mean()) == pytest.approx(-math.log(72), abs=0.05)
    assert float((maps[0] - maps[1]).abs().max()) > 1e-4 and torch.equal(maps[0], maps[2])


def _denormalize(video):
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((video * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


def _tiny_sets(tiny_data):
    data = [f"dataset.root={tiny_data / 'yt360'}", "dataset.decode_cache_mb=0", "dataset.decode_cache_dir=null"]
    return data, [arg for text in data for arg in ("--set", text)]


@pytest.mark.parametrize("mode", ["sample", "method"])
def test_sample_and_method_figures_show_the_datasets_own_sample(mode, tiny_data, tmp_path, drawn):
    """The crops drawn are the dataset's sample at that index (its __getitem__), and each view's energy bars are the
    raw FOA seen from that view, rotated here by hand (`foa_toward`)."""
    config = os.path.join(ROOT, "configs", "demo", "avsa.yaml")
    data, sets = _tiny_sets(tiny_data)
    assert vis.main([mode, config, "--index", "2", *sets, "--out", str(tmp_path / f"{mode}.png")]) == 0
    assert png_size(tmp_path / f"{mode}.png") == expected_size(mode)
    cfg = load_config(config, [*data, "dataset.video.crop_size=96"], schema=PRETRAIN_SCHEMA)
    dataset = build_dataset(cfg["dataset"], "test", seed=cfg["seed"])
    sample, raw = dataset[2], dataset.decode(2)
    num_views = cfg["dataset"]["viewpoints"]["num"]
    views = {"azimuth": sample["position"][:num_views, 0], "elevation": sample["position"][:num_views, 1]}
    energy = independent_energy_db(raw["foa"][0], views)
    fig = drawn[0]
    middle = sample["video"].shape[2] // 2
    for k in range(num_views):
        crop = axes_named(fig, f"crop {k}").images[0].get_array()
        assert torch.equal(torch.from_numpy(crop.copy()), _denormalize(sample["video"][k, :, middle]).permute(1, 2, 0))
        bars = axes_named(fig, f"energy {k}").patches
        shown = [bar.get_y() + bar.get_height() for bar in bars]
        assert shown == pytest.approx(energy[k].clamp_min(ENERGY_FLOOR_DB).tolist(), abs=0.05)
    if mode == "method":
        pairs = axes_named(fig, "pairs").images[0].get_array()
        assert torch.equal(torch.from_numpy(pairs.copy()), contrastive_pairs(num_views, 2, "paper"))


def test_sample_figure_intensity_and_features_come_from_the_datasets_own_audio(tiny_data, monkeypatch):
    """The FOA the figure keeps is what the dataset computed the sample's features from (train split: flips and
    volume jitter included), and the compass points where the intensity of that FOA points."""
    config = os.path.join(ROOT, "configs", "demo", "avsa.yaml")
    data, sets = _tiny_sets(tiny_data)
    shown = {}
    monkeypatch.setattr(vis, "plot_sample", lambda path, sample: shown.update(sample=sample) or path)
    cfg = load_config(config, [*data, "dataset.video.crop_size=96"], schema=PRETRAIN_SCHEMA)
    for split, index in (("test", 2), ("train", 0)):  # train sample 0 is mirrored by the joint flip
        vis.main(["sample", config, "--split", split, "--index", str(index), *sets, "--out", "unused.png"])
        dataset = build_dataset(cfg["dataset"], split, seed=cfg["seed"])
        sample, kept = dataset[index], shown["sample"]
        num_views = cfg["dataset"]["viewpoints"]["num"]
        assert torch.equal(kept.audio, sample["audio"][:num_views])
        assert torch.allclose(dataset.audio_features.features(kept.foa), kept.audio)
        azimuth = sample["position"][:num_views, 0]  # after the flip; the figure's views are before it
        assert torch.equal(kept.views["azimuth"], -azimuth if split == "train" else azimuth)
    fig_sample = shown["sample"]
    audio = view_audio(fig_sample.foa)
    for k in range(num_views):
        w, y, z, x = fig_sample.foa[k].double()
        assert float(audio["azimuth"][k]) == pytest.approx(math.atan2(float((w * y).mean()), float((w * x).mean())),
                                                          abs=1e-4)


def test_segmentation_figure_of_a_directory_without_results_is_a_config_error(tmp_path):
    (tmp_path / "fold-01").mkdir()  # a fold directory that never finished: no results.json anywhere
    with pytest.raises(ConfigError, match="no results.json"):
        vis.main(["segmentation", str(tmp_path), "--out", str(tmp_path / "seg.png")])
    assert not (tmp_path / "seg.png").exists()


def test_segmentation_figure_of_a_benchmark_directory_reads_its_only_fold(tmp_path):
    (tmp_path / "fold-01").mkdir()
    (tmp_path / "fold-01" / "results.json").write_text("{}")
    # It descends into fold-01: the next thing read is that fold's config.yaml (absent here), named in the error.
    with pytest.raises(ConfigError, match=r"fold-01[/\\]config\.yaml"):
        vis.main(["segmentation", str(tmp_path), "--out", str(tmp_path / "seg.png")])
