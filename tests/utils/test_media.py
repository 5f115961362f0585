"""Decoding: frame selection by time, window past the end, channel order for every layout tag, FuMa → ambiX."""

import math
import os

import av
import numpy as np
import pytest
import torch

from tests.conftest import shared_path
from tests.datasets.media_fixtures import write_audio, write_video
from utils.errors import DataError
from utils.media import DecodeCache, open_media, probe_media, read_audio, read_video

NATIVE_FPS = 10
NUM_FRAMES = 20
LEVEL_STEP = 12  # frame n is a flat grey image of level 12·n (well apart after H.264 compression)


def _shared(name):
    return shared_path("real-media", name)


@pytest.fixture(scope="module")
def counter_video(tmp_path_factory):
    """64×32 H.264 at 10 fps, keyframe every 5 frames, frame n = grey level 12·n."""
    path = str(tmp_path_factory.mktemp("media") / "counter.mp4")
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=NATIVE_FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.codec_context.gop_size = 5
        stream.options = {"crf": "10", "bf": "0"}
        for n in range(NUM_FRAMES):
            image = np.full((32, 64, 3), LEVEL_STEP * n, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _frame_indices(frames: torch.Tensor) -> list[int]:
    return [int(round(level / LEVEL_STEP)) for level in frames.float().mean(dim=(1, 2, 3)).tolist()]


def test_read_video_selects_frame_displayed_at_each_time(counter_video):
    frames = read_video(counter_video, start=0.55, duration=0.5, fps=16)
    assert frames.shape == (8, 32, 64, 3) and frames.dtype == torch.uint8
    expected = [math.floor((0.55 + n / 16) * NATIVE_FPS + 1e-9) for n in range(8)]
    assert _frame_indices(frames) == expected  # 5, 6, 6, 7, 7, 8, 9, 9 (seek lands on the keyframe at 0.5 s)


def test_read_video_repeats_last_frame_past_the_end_and_downscales(counter_video):
    frames = read_video(counter_video, start=1.75, duration=0.5, fps=16, size=(16, 32))
    assert frames.shape == (8, 16, 32, 3)
    assert _frame_indices(frames) == [17, 18, 18, 19, 19, 19, 19, 19]


def test_probe_media(counter_video):
    info = probe_media(counter_video)
    assert info.video.width == 64 and info.video.height == 32 and info.video.fps == NATIVE_FPS
    assert info.audio is None
    assert info.duration == pytest.approx(NUM_FRAMES / NATIVE_FPS, abs=0.11)


def test_unreadable_or_missing_stream_is_a_data_error(tmp_path, counter_video):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(DataError, match="junk.mp4: "):
        read_video(str(junk), 0.0, 0.5, 16)
    with pytest.raises(DataError, match="no audio stream"):
        read_audio(counter_video, 0.0, 0.5, 24000)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(open(counter_video, "rb").read()[:600])
    with pytest.raises(DataError, match="truncated.mp4: "):
        read_video(str(truncated), 0.0, 0.5, 16)


TONES = (440.0, 1000.0, 2500.0, 5000.0)  # channel c carries tone c


def _write_tones(path, layout, codec="pcm_s16le", rate=48000, seconds=0.5):
    t = np.arange(int(rate * seconds)) / rate
    signal = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in TONES]).astype(np.float32)
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.format
        block = stream.codec_context.frame_size or 1024
        for i in range(0, signal.shape[1], block):
            chunk = signal[:, i: i + block]
            if fmt.name.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            if not fmt.is_planar:
                chunk = chunk.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt.name, layout=layout)
            frame.rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _dominant_tone(channel: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(channel * torch.hann_window(channel.shape[-1], periodic=False)).abs()
    return float(spectrum.argmax()) * rate / channel.shape[-1]


@pytest.mark.parametrize("layout, codec, ext", [("quad", "pcm_s16le", "wav"), ("4.0", "pcm_s16le", "wav"),
                                                ("4 channels", "pcm_s16le", "wav"), ("quad", "aac", "m4a")])
def test_read_audio_keeps_stored_channel_order(tmp_path, layout, codec, ext):
    path = _write_tones(str(tmp_path / f"tones.{ext}"), layout, codec)
    audio = read_audio(path, start=0.1, duration=0.25, rate=24000)
    assert audio.shape == (4, 6000) and audio.dtype == torch.float32
    peaks = [_dominant_tone(channel, 24000) for channel in audio]
    assert peaks == pytest.approx(list(TONES), abs=8.0)  # one FFT bin is 4 Hz
    if codec == "pcm_s16le":  # resampling 48 → 24 kHz keeps the amplitude of in-band tones
        assert audio.abs().amax(dim=1).tolist() == pytest.approx([0.3] * 4, abs=0.01)


def test_read_audio_pads_window_past_the_end(tmp_path):
    path = _write_tones(str(tmp_path / "tones.wav"), "quad", seconds=0.5)
    audio, padded = read_audio(path, start=0.4, duration=0.2, rate=24000, return_padding=True)
    assert audio.shape == (4, 4800) and padded == 2400
    assert audio[:, 2400:].abs().max() == 0 and audio[:, :2300].abs().amax(dim=1).min() > 0.25
    with pytest.raises(DataError, match="outside the stream"):
        read_audio(path, start=2.0, duration=0.2, rate=24000)


def test_fuma_conversion_of_synthetic_plane_wave(tmp_path):
    # FuMa B-format of a plane wave from azimuth 90° (left), elevation 0: W = s/√2, X = 0, Y = s, Z = 0.
    rate, t = 48000, np.arange(24000) / 48000
    s = 0.5 * np.sin(2 * np.pi * 1000 * t)
    fuma = np.stack([s / math.sqrt(2), 0 * s, s, 0 * s]).astype(np.float32)
    path = str(tmp_path / "fuma.wav")
    with av.open(path, "w") as container:
        stream = container.add_stream("pcm_f32le", rate=rate, layout="quad")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(fuma.T.reshape(1, -1)), format="flt", layout="quad")
        frame.rate, frame.pts = rate, 0
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    ambix = read_audio(path, 0.0, 0.5, rate, audio_format="fuma")
    # ambiX (W, Y, Z, X) of that wave is s·(1, 1, 0, 0).
    assert torch.allclose(ambix, torch.from_numpy(np.stack([s, s, 0 * s, 0 * s])).float(), atol=1e-6)


def test_real_fuma_recording_has_dominant_w():
    path = _shared("jsambisonics_BF_rec1.ogg")
    ambix = read_audio(path, start=2.0, duration=1.0, rate=24000, audio_format="fuma")
    assert ambix.shape == (4, 24000)
    rms = ambix.pow(2).mean(dim=1).sqrt()
    assert int(rms.argmax()) == 0 and rms[0] > 1e-3
    raw = read_audio(path, start=2.0, duration=1.0, rate=24000)
    assert torch.allclose(ambix[1:], raw[[2, 3, 1]]) and torch.allclose(ambix[0], raw[0] * math.sqrt(2))


# ---------------------------------------------------------------------------------------------- decode cache
@pytest.mark.parametrize("start, duration, fps", [(0.0, 0.5, 16), (0.55, 0.5, 16), (0.93, 0.3, 10), (1.75, 0.5, 16),
                                                  (0.31, 0.25, 7.5)])
def test_decode_cache_video_windows_equal_read_video(counter_video, start, duration, fps):
    cache = DecodeCache(max_mb=16)
    cached = cache.video(counter_video, start, duration, fps)
    assert torch.equal(cached, read_video(counter_video, start, duration, fps))
    assert len(cache) == 1  # the second window is served from memory
    assert torch.equal(cache.video(counter_video, 0.2, 0.4, 16), read_video(counter_video, 0.2, 0.4, 16))


def test_decode_cache_audio_windows_equal_read_audio_at_native_rate(tmp_path):
    path = _write_tones(str(tmp_path / "tones.wav"), "quad", rate=24000, seconds=0.5)
    cache = DecodeCache(max_mb=16)
    for start, duration in [(0.0, 0.2), (0.1234, 0.25), (0.4, 0.2)]:  # the last one is zero-padded past the end
        cached, padded = cache.audio(path, start, duration, 24000, return_padding=True)
        plain, plain_padded = read_audio(path, start, duration, 24000, return_padding=True)
        assert torch.equal(cached, plain) and padded == plain_padded
    with pytest.raises(DataError, match="outside the stream"):
        cache.audio(path, 2.0, 0.2, 24000)


def test_decode_cache_resampled_audio_matches_in_the_window_interior(tmp_path):
    path = _write_tones(str(tmp_path / "tones.wav"), "quad", rate=48000, seconds=0.5)
    cached = DecodeCache(max_mb=16).audio(path, 0.1, 0.25, 24000)
    plain = read_audio(path, 0.1, 0.25, 24000)
    assert (cached - plain).abs().max() < 1e-3  # the resampler sees the whole file instead of the window ± 50 ms


def test_decode_cache_drops_least_recently_used_beyond_its_size(tmp_path, counter_video):
    # One decoded counter video: 20 frames of 32×64×3 = 122,880 bytes. Room for two of them, not three.
    cache = DecodeCache(max_mb=2.5 * 122_880 / 2 ** 20)
    copies = []
    for i in range(3):
        path = tmp_path / f"copy{i}.mp4"
        path.write_bytes(open(counter_video, "rb").read())
        copies.append(str(path))
    cache.video(copies[0], 0, 0.1, 10)
    cache.video(copies[1], 0, 0.1, 10)
    assert len(cache) == 2 and not cache.overflowed
    cache.video(copies[0], 0, 0.1, 10)      # copy 0 becomes the most recent
    cache.video(copies[2], 0, 0.1, 10)      # evicts copy 1
    assert len(cache) == 2 and cache.overflowed
    assert [key[1] for key in cache._entries] == [copies[0], copies[2]]
    tiny = DecodeCache(max_mb=0.01)         # an entry larger than the cache is served, not kept
    assert torch.equal(tiny.video(counter_video, 0.5, 0.2, 10), read_video(counter_video, 0.5, 0.2, 10))
    assert len(tiny) == 0


def test_decode_cache_directory_is_shared_by_later_caches_and_follows_file_changes(tmp_path, counter_video,
                                                                                   monkeypatch):
    import utils.media as media

    audio_path = _write_tones(str(tmp_path / "tones.wav"), "quad", rate=24000, seconds=0.5)
    video_path = str(tmp_path / "counter.mp4")
    with open(counter_video, "rb") as src, open(video_path, "wb") as dst:
        dst.write(src.read())
    store = str(tmp_path / "decoded")
    first = DecodeCache(max_mb=16, directory=store)
    video, audio = first.video(video_path, 0.55, 0.5, 16), first.audio(audio_path, 0.1, 0.2, 24000)
    assert len(os.listdir(store)) == 4  # data + meta for each file

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the stored copy")

    monkeypatch.setattr(media, "_decode_all_frames", no_decoding)
    monkeypatch.setattr(media, "_decode_audio", no_decoding)
    later = DecodeCache(max_mb=16, directory=store)  # e.g. another job of the demo suite
    assert torch.equal(later.video(video_path, 0.55, 0.5, 16), video)
    assert torch.equal(later.audio(audio_path, 0.1, 0.2, 24000), audio)
    monkeypatch.undo()
    os.utime(video_path, ns=(0, 123_456_789))  # the file changed (its mtime): decoded again, a new stored copy
    assert torch.equal(DecodeCache(max_mb=16, directory=store).video(video_path, 0.55, 0.5, 16), video)
    assert len(os.listdir(store)) == 6


@pytest.mark.parametrize("codec, ext", [("mpeg4", "avi"), ("libx264", "mp4")])
def test_files_whose_tags_are_not_utf8_open_and_decode(tmp_path, codec, ext):
    """Tags in CP1252 (as in many HMDB51 AVIs) used to fail the open ("'utf-8' codec can't decode byte 0xd3")."""
    frames = [np.full((32, 64, 3), LEVEL_STEP * n, np.uint8) for n in range(NUM_FRAMES)]
    video = write_video(str(tmp_path / f"tagged.{ext}"), frames, fps=NATIVE_FPS, codec=codec, tags=True)
    info = probe_media(video)
    assert (info.video.width, info.video.height, info.video.num_frames) == (64, 32, NUM_FRAMES)
    assert _frame_indices(read_video(video, 0.5, 0.5, NATIVE_FPS)) == [5, 6, 7, 8, 9]
    with open_media(video) as container:  # the tags are still there, the bad bytes replaced
        assert container.metadata["title"] == "\ufffdscar P\ufffdrez "
    audio = write_audio(str(tmp_path / "tagged.m4a"), np.stack([0.3 * np.sin(2 * np.pi * f * np.arange(12000) / 24000)
                                                                 for f in TONES]), tags=True)
    peaks = [_dominant_tone(channel, 24000) for channel in read_audio(audio, 0.1, 0.25, 24000)]
    assert peaks == pytest.approx(list(TONES), abs=8.0)
