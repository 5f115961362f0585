"""tools/prepare_yt360.py on tiny "full-length" downloads: segments cut at the right times, 2:1 H.264 with short
keyframe intervals, FOA channels unchanged in order, a manifest with checksums, a problem report that never stops."""

import hashlib
import json
import os

import av
import numpy as np
import pytest
import torch

from utils.media import probe_media, read_audio, read_video
from tests.scripts import load_script

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools",
                    "prepare_yt360.py")
FPS, RATE, SECONDS = 10, 24000, 3.0
TONES = (300.0, 700.0, 1500.0, 3100.0)  # channel c carries tone c


def _tool():
    return load_script(TOOL)


def _download(path, size=(64, 32), channels=4, audio=True):
    """Video whose grey level encodes the frame time, plus `channels` tones in one MP4."""
    with av.open(path, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"crf": "10", "bf": "0", "g": "30"}
        layout = {2: "stereo", 4: "4.0"}[channels]
        sound = container.add_stream("aac", rate=RATE, layout=layout) if audio else None
        for n in range(int(SECONDS * FPS)):
            image = np.full((size[1], size[0], 3), 8 * n, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            t = np.arange(int(SECONDS * RATE)) / RATE
            signal = np.stack([0.2 * np.sin(2 * np.pi * TONES[c] * t) for c in range(channels)]).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(signal, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = RATE, 0
            container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


def test_cuts_segments_and_reports_problems_without_stopping(tmp_path):
    source, output = tmp_path / "downloads", tmp_path / "yt360"
    source.mkdir()
    _download(str(source / "good-id_001.mp4"))
    _download(str(source / "stereo00001.mp4"), channels=2)
    _download(str(source / "not2to10001.mp4"), size=(64, 48))
    _download(str(source / "silent00001.mp4"), audio=False)
    (source / "corrupt0001.mkv").write_bytes(b"\x1a\x45\xdf\xa3 broken")
    segments = tmp_path / "segments.txt"
    segments.write_text("good-id_001 0,1,3\nstereo00001 0\nnot2to10001 0\nsilent00001 0\ncorrupt0001 0\n"
                        "missing0001 0\n")
    code = _tool().main([str(source), str(output), "--segments", str(segments), "--segment-seconds", "1",
                         "--height", "16", "--keyframe-interval", "0.5"])
    assert code == 1
    problems = (output / "problems.txt").read_text().splitlines()
    expected = {"good-id_001": "too short (3.0 s) for segment good-id_001-3", "stereo00001": "2 audio channels",
                "not2to10001": "not 2:1", "silent00001": "no audio stream", "corrupt0001": "cannot open",
                "missing0001": "no source file"}
    assert len(problems) == len(expected)
    for video_id, reason in expected.items():
        assert any(video_id in line and reason in line for line in problems), (video_id, problems)
    manifest = json.loads((output / "manifest.json").read_text())
    assert [(m["id"], m["start"]) for m in manifest] == [("good-id_001", 0), ("good-id_001", 1)]
    for entry in manifest:
        assert (entry["width"], entry["height"], entry["channels"], entry["rate"]) == (32, 16, 4, RATE)
        assert entry["duration"] == pytest.approx(1.0, abs=0.1)
        for kind in ("video", "audio"):
            data = (output / entry[kind]).read_bytes()
            assert entry["sha256"][kind] == hashlib.sha256(data).hexdigest()
    # Segment 1 starts at 1 s of the source: its first frame is source frame 10 (grey 80).
    frames = read_video(str(output / "video" / "good-id_001-1.mp4"), 0.0, 1.0, FPS)
    assert frames.float().mean(dim=(1, 2, 3)).tolist() == pytest.approx([8 * (10 + n) for n in range(10)], abs=3)
    with av.open(str(output / "video" / "good-id_001-1.mp4")) as container:
        keyframes = [p.pts for p in container.demux(container.streams.video[0]) if p.is_keyframe and p.pts is not None]
    assert len(keyframes) >= 2  # every 5 frames (0.5 s)
    audio = read_audio(str(output / "audio" / "good-id_001-1.m4a"), 0.1, 0.8, RATE)
    spectra = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1])).abs()
    assert (spectra.argmax(dim=1).float() * RATE / audio.shape[-1]).tolist() == pytest.approx(list(TONES), abs=3)
    assert probe_media(str(output / "audio" / "good-id_001-0.m4a")).audio.channels == 4
    # A second run keeps what exists (same checksums) and reports the same problems.
    assert _tool().main([str(source), str(output), "--segments", str(segments), "--segment-seconds", "1",
                         "--height", "16"]) == 1
    assert json.loads((output / "manifest.json").read_text()) == manifest


def test_fast_decode_encoding_and_audio_at_the_training_rate(tmp_path):
    from tools.prepare_yt360 import cut_audio, cut_video

    source = _download(str(tmp_path / "src.mp4"))
    cut_video(source, str(tmp_path / "fast.mp4"), 0.0, 1.0, 16, 0.5, 20)
    cut_video(source, str(tmp_path / "slow.mp4"), 0.0, 1.0, 16, 0.5, 20, fast_decode=False)
    # x264 writes its settings into the stream: fastdecode = CAVLC entropy coding and no deblocking filter.
    fast, slow = (tmp_path / "fast.mp4").read_bytes(), (tmp_path / "slow.mp4").read_bytes()
    assert b"cabac=0" in fast and b"deblock=0" in fast
    assert b"cabac=1" in slow and b"deblock=1" in slow
    cut_audio(source, str(tmp_path / "a12k.m4a"), 0.0, 1.0, 12000)
    audio = read_audio(str(tmp_path / "a12k.m4a"), 0.2, 0.5, 12000)
    assert probe_media(str(tmp_path / "a12k.m4a")).audio.rate == 12000
    spectrum = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1], periodic=False)).abs()
    assert (spectrum.argmax(dim=1).float() * 12000 / audio.shape[-1]).tolist() == pytest.approx(list(TONES), abs=8.0)
