"""tools/measure_spatial_cues.py: 0° for an unchanged signal, the angle of a known rotation, and the preparation's AAC
keeping directions where a low bit rate with intensity stereo and noise substitution does not; the direction figure's
maps give a plane wave's azimuth in every loud bin and a yaw turn's angle as the error."""

import math
import struct

import pytest
import torch

from tests.scripts import load_script
from utils.ambisonics import rotate_foa_yaw

TOOL = load_script("tools/measure_spatial_cues.py")


def test_unchanged_signal_has_no_error_and_a_rotation_gives_its_angle():
    for elevation in (0.0, 40.0):
        foa = TOOL.noise_bursts(25.0, elevation, 24000)
        assert list(TOOL.direction_errors(foa, foa.clone()).values()) == pytest.approx([0.0] * 3, abs=1e-9)
        # Turning the field by 30° about the vertical moves a direction at elevation e by 2·asin(cos e·sin 15°).
        expected = math.degrees(2 * math.asin(math.cos(math.radians(elevation)) * math.sin(math.radians(15))))
        errors = TOOL.direction_errors(foa, rotate_foa_yaw(foa, math.radians(30)))
        assert list(errors.values()) == pytest.approx([expected] * 3, abs=1e-4)  # float32 signals
    assert expected == pytest.approx(22.87, abs=0.01)  # 2·asin(0.766·0.259)


def test_weighted_quantile():
    values, weights = torch.tensor([3.0, 1.0, 4.0, 2.0]), torch.tensor([1.0, 1.0, 5.0, 1.0])
    assert [TOOL.weighted_quantile(values, weights, q) for q in (0.1, 0.25, 0.3, 0.5, 0.9)] == [1, 2, 3, 4, 4]


def test_preparation_keeps_directions_that_low_rate_joint_coding_loses(tmp_path):
    azimuth, elevation = TOOL.synthetic_directions(14)[3]
    assert abs(azimuth) % 90 > 5 and abs(elevation) > 5  # not on an axis, where coding errors cancel
    source = TOOL.write_pcm(TOOL.noise_bursts(azimuth, elevation, 24000), 24000, str(tmp_path / "wave.wav"))
    kept = TOOL.direction_errors(*TOOL.prepared_pair(source, 24000, "ambix", TOOL.AAC_OPTIONS, TOOL.AUDIO_BIT_RATE,
                                                      str(tmp_path)))
    assert 0 < kept["median"] < 2 and kept["p90"] < 5 and kept["broadband"] < 0.5
    lost = TOOL.direction_errors(*TOOL.prepared_pair(source, 24000, "ambix", {"aac_is": "1", "aac_pns": "1"}, 32_000,
                                                      str(tmp_path)))
    assert lost["p90"] > 20 and lost["broadband"] > 1


def test_direction_maps_show_a_plane_wave_azimuth_and_a_yaw_turn(tmp_path):
    foa = TOOL.noise_bursts(-70.0, 0.0, 24000)
    maps = TOOL.direction_maps(foa, rotate_foa_yaw(foa, math.radians(30)))
    loud = ~maps["error"].isnan()
    assert 0.3 < float(loud.float().mean()) < 1.0  # the silent gaps between bursts are masked
    assert maps["azimuth_before"][loud] == pytest.approx(torch.full((int(loud.sum()),), -70.0), abs=1e-3)
    # At elevation 0 a turn of the field by 30° moves the direction by 30°; the sign says which way.
    assert maps["error"][loud] == pytest.approx(torch.full((int(loud.sum()),), 30.0), abs=1e-3)
    turned = float(maps["azimuth_after"][loud].mean())
    assert abs(abs(turned + 70.0) - 30.0) < 1e-3
    path = TOOL.plot_directions(str(tmp_path / "d.png"), maps, "test", 24000)
    with open(path, "rb") as f:
        width, height = struct.unpack(">II", f.read(24)[16:24])
    assert (width, height) == (720, 600)
