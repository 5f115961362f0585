"""tools/prepare_yt360.py on tiny "full-length" downloads: segments cut at the right times, 2:1 H.264 with short
keyframe intervals, FOA channels unchanged in order, a manifest with checksums, a problem report that never stops,
sources whose streams end early, several workers, and a run that resumes after an interruption."""

import hashlib
import json
import os
import re
import struct

import av
import numpy as np
import pytest
import torch

from tests.datasets.media_fixtures import patch_tags, set_placeholder_tags
from tests.scripts import load_script
from tools.prepare.cut import cut_audio, cut_video
from tools.prepare.run import Progress
from tools.prepare.source import list_source_segments, spherical_projection
from utils.errors import DataError
from utils.media import probe_media, read_audio, read_video

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools",
                    "prepare_yt360.py")
FPS, RATE, SECONDS = 10, 24000, 3.0
TONES = (300.0, 700.0, 1500.0, 3100.0)  # channel c carries tone c


def _tool():
    return load_script(TOOL)


def _download(path, size=(64, 32), channels=4, audio=True, tags=False, interleaved=False):
    """Video whose grey level encodes the frame time, plus `channels` tones in one MP4 (H.264 + AAC) or, for a .webm
    path, in YouTube's spatial-audio format (VP9 + 4-channel Opus with the ambisonic channel mapping). ``tags``:
    title/comment in CP1252, not UTF-8. ``interleaved``: audio and video packets interleaved in time and the index at
    the start ("faststart"), as in downloaded files, so that a prefix of the file is a shorter but well-formed file."""
    webm = path.endswith(".webm")
    with av.open(path, "w", format="webm" if webm else "mp4",
                 options={"movflags": "faststart"} if interleaved else {}) as container:
        video = container.add_stream("libvpx-vp9" if webm else "libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"crf": "10", "b:v": "0"} if webm else {"crf": "10", "bf": "0", "g": "30"}
        if tags:
            set_placeholder_tags(container, video)
        layout = {2: "stereo", 4: "4.0"}[channels]
        sound = container.add_stream("libopus" if webm else "aac", rate=RATE, layout=layout) if audio else None
        if webm and sound is not None:
            sound.options = {"mapping_family": "2"}  # ambisonics (ACN order), as YouTube serves FOA
        t = np.arange(int(SECONDS * RATE)) / RATE
        signal = np.stack([0.2 * np.sin(2 * np.pi * TONES[c] * t) for c in range(channels)]).astype(np.float32)
        chunk = RATE // FPS if interleaved else len(t)  # audio samples sent along with each video frame
        for n in range(int(SECONDS * FPS)):
            image = np.full((size[1], size[0], 3), 8 * n, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            if sound is not None and (interleaved or n == int(SECONDS * FPS) - 1):
                begin = n * chunk if interleaved else 0
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal[:, begin: begin + chunk]),
                                                   format="fltp", layout=layout)
                frame.sample_rate, frame.pts = RATE, begin
                container.mux(sound.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
    return patch_tags(path) if tags else path


def _interrupted_download(path, seconds_kept):
    """An interleaved download cut off at the first packet of time ≥ ``seconds_kept``: every stream ends there, but
    the container, written for the whole file, still announces SECONDS."""
    _download(path, interleaved=True)
    with av.open(path) as container:
        end = min(p.pos for p in container.demux() if p.pts is not None and p.pts * p.time_base >= seconds_kept)
    with open(path, "rb+") as f:
        f.truncate(end)
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


def test_youtube_spatial_audio_format_keeps_its_channel_order(tmp_path):
    """A source as yt-dlp merges YouTube's 360° formats: VP9 video and 4-channel Opus whose ambisonic channel mapping
    FFmpeg reports as layout "ambisonic 1"; every channel must come out where it was (tone c in channel c)."""
    source, output = tmp_path / "downloads", tmp_path / "yt360"
    source.mkdir()
    path = _download(str(source / "youtube_foa.webm"))
    assert probe_media(path).audio.layout == "ambisonic 1"
    segments = tmp_path / "segments.txt"
    segments.write_text("youtube_foa 1\n")
    assert _run(source, output, segments) == 0
    audio = read_audio(str(output / "audio" / "youtube_foa-1.m4a"), 0.1, 0.8, RATE)
    spectra = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1])).abs()
    assert (spectra.argmax(dim=1).float() * RATE / audio.shape[-1]).tolist() == pytest.approx(list(TONES), abs=3)
    frames = read_video(str(output / "video" / "youtube_foa-1.mp4"), 0.0, 1.0, FPS).float()
    assert frames.mean(dim=(1, 2, 3)).tolist() == pytest.approx([8 * (10 + n) for n in range(10)], abs=3)


def test_fast_decode_encoding_and_audio_at_the_training_rate(tmp_path):
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


def _run(source, output, segments, *extra):
    return _tool().main([str(source), str(output), "--segments", str(segments), "--segment-seconds", "1",
                         "--height", "16", *extra])


def test_source_whose_streams_end_early_is_reported_and_its_short_segment_removed(tmp_path):
    source, output = tmp_path / "downloads", tmp_path / "yt360"
    source.mkdir()
    path = _interrupted_download(str(source / "interrupted.mp4"), 1.5)
    assert probe_media(path).duration == pytest.approx(SECONDS)  # what the container announces
    with av.open(path) as container:
        assert max(f.time for f in container.decode(video=0)) == pytest.approx(1.4)  # what it holds
    segments = tmp_path / "segments.txt"
    segments.write_text("interrupted 0,1,2\n")
    assert _run(source, output, segments, "--workers", "1") == 1
    manifest = json.loads((output / "manifest.json").read_text())
    assert [(m["start"], m["duration"]) for m in manifest] == [(0, pytest.approx(1.0, abs=0.05))]
    problems = (output / "problems.txt").read_text().splitlines()
    assert len(problems) == 2
    # [1, 2) s: 5 frames (0.50 s) and the audio up to 1.5 s (+ one AAC frame of 1024 samples); the rest was zeros.
    assert "segment interrupted-1: video 0.50 s, audio 0.5" in problems[0]
    assert "shorter than the requested 1 s" in problems[0] and "removed" in problems[0]
    assert "segment interrupted-2: no video frames in [2, 3.0) s" in problems[1]
    assert sorted(os.listdir(output / "video")) == ["interrupted-0.mp4"]
    assert sorted(os.listdir(output / "audio")) == ["interrupted-0.m4a"]


def _comparable(manifest):
    """The manifest without the video's size and checksum: x264 is not bit-reproducible across processes."""
    return [{**m, "bytes": m["bytes"]["audio"], "sha256": m["sha256"]["audio"]} for m in manifest]


def test_workers_give_the_same_dataset_keep_going_past_bad_sources_and_resume(tmp_path, monkeypatch, capsys):
    source = tmp_path / "downloads"
    source.mkdir()
    good = [f"good-id_{n:03d}" for n in range(3)]
    for video_id in good[:2]:
        _download(str(source / f"{video_id}.mp4"))
    _download(str(source / f"{good[2]}.mp4"), tags=True)  # tags in CP1252: used to fail "cannot open"
    _download(str(source / "stereo00001.mp4"), channels=2)
    (source / "corrupt0001.mkv").write_bytes(b"\x1a\x45\xdf\xa3 broken")
    segments = tmp_path / "segments.txt"
    segments.write_text("".join(f"{video_id} 0,1\n" for video_id in good[:2]) + "corrupt0001 0\nmissing0001 0\n"
                        f"{good[2]} 0,2\nstereo00001 1\n")
    one, two = tmp_path / "one", tmp_path / "two"
    assert _run(source, one, segments, "--workers", "1") == 1
    assert _run(source, two, segments, "--workers", "2") == 1
    manifest = json.loads((one / "manifest.json").read_text())
    assert [(m["id"], m["start"]) for m in manifest] == [(g, s) for g in good for s in ((0, 2) if g == good[2] else
                                                                                       (0, 1))]
    assert _comparable(json.loads((two / "manifest.json").read_text())) == _comparable(manifest)
    problems = (one / "problems.txt").read_text()
    assert (two / "problems.txt").read_text() == problems
    assert [line.split(":")[0] for line in problems.splitlines()] == [
        str(source / "corrupt0001.mkv"), str(source / "missing0001") + ".*", str(source / "stereo00001.mp4")]
    for entry in manifest:
        frames = [read_video(str(root / entry["video"]), 0.0, 1.0, FPS).float() for root in (one, two)]
        assert (frames[0] - frames[1]).abs().mean() < 1.0
        # Segment T starts at T s of the source: frame n is source frame 10·T + n (grey 8 per frame).
        assert frames[0].mean(dim=(1, 2, 3)).tolist() == pytest.approx(
            [8 * (10 * entry["start"] + n) for n in range(10)], abs=3)

    # Interrupted (Ctrl-C in the parent) after 3 of the 6 segments: those 3 are listed, the other files are not
    # there (a killed worker leaves at most a .partial file).
    three, tool = tmp_path / "three", _tool()
    update, done = Progress.update, []

    def interrupt_after_three(bar):
        update(bar)
        done.append(bar.unit)
        if done.count("segment") == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update", interrupt_after_three)
    with pytest.raises(KeyboardInterrupt):
        tool.main([str(source), str(three), "--segments", str(segments), "--segment-seconds", "1", "--height", "16",
                   "--workers", "2"])
    monkeypatch.undo()
    listed = json.loads((three / "manifest.json").read_text())
    assert len(listed) == 3 and _comparable(listed) == [m for m in _comparable(manifest) if m in _comparable(listed)]
    kept = {m["video"]: (three / m["video"]).stat().st_mtime_ns for m in listed}
    (three / "video" / f"{good[2]}-2.mp4.partial").write_bytes(b"half an encode")
    capsys.readouterr()
    assert _run(source, three, segments, "--workers", "2") == 1
    assert "3 segments written, 3 already there (kept), 3 problems" in capsys.readouterr().out
    assert _comparable(json.loads((three / "manifest.json").read_text())) == _comparable(manifest)
    assert (three / "problems.txt").read_text() == problems
    assert {v: (three / v).stat().st_mtime_ns for v in kept} == kept  # not cut again
    assert not list((three / "video").glob("*.partial"))


def test_bad_arguments_are_one_line_errors(tmp_path):
    """DataError: one line on stderr and exit code 1 (utils.cli.run_main); argparse errors exit 2."""
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("good-id_001 0\n")
    bad.write_text("good-id_001 0,x\n")
    output = str(tmp_path / "out")
    for argv, message in (([str(tmp_path), output, "--segments", str(tmp_path / "none.txt")],
                           "none.txt: cannot read the segment list (No such file or directory)"),
                          ([str(tmp_path), output, "--segments", str(bad)], "bad.txt:1: start times must be integers"),
                          ([str(tmp_path / "missing"), output, "--segments", str(good)],
                           "missing: source folder not found")):
        with pytest.raises(DataError, match=re.escape(message)):
            _tool().main(argv)
    with pytest.raises(SystemExit) as exit_info:
        _tool().main([str(tmp_path), output, "--segments", str(good), "--workers", "0"])
    assert exit_info.value.code == 2


def _box(tag: bytes, payload: bytes, full: bool = False) -> bytes:
    payload = (b"\0\0\0\0" if full else b"") + payload  # a full box starts with version and flags
    return struct.pack(">I4s", 8 + len(payload), tag) + payload


def _tag_spherical(path, projection: bytes, bounds=(0, 0, 0, 0)):
    """Add Spherical Video V2 metadata (an 'sv3d' box) to the H.264 sample entry of an MP4 written with its index
    at the end: 'equi' (with projection bounds top, bottom, left, right) or 'cbmp' (layout 0, padding 0). Every
    enclosing box grows by the inserted size; the media data before it does not move."""
    body = struct.pack(">4I", *bounds) if projection == b"equi" else struct.pack(">2I", 0, 0)
    sv3d = _box(b"sv3d", _box(b"svhd", b"avsa test\0", full=True)
                + _box(b"proj", _box(b"prhd", struct.pack(">3i", 0, 0, 0), full=True) + _box(projection, body, True)))
    data = open(path, "rb").read()
    # Bytes before the children: 8 for stsd (version, flags, entry count), 78 for a visual sample entry.
    route, skip = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1"], {b"stsd": 8, b"avc1": 78}

    def find(start, end, depth):  # offsets of the boxes along the route, or None
        while start < end:
            size, tag = struct.unpack(">I4s", data[start:start + 8])
            if tag == route[depth]:
                inner = [] if depth == len(route) - 1 else find(start + 8 + skip.get(tag, 0), start + size, depth + 1)
                if inner is not None:
                    return [start] + inner
            start += size
        return None

    boxes = find(0, len(data), 0)
    assert boxes and data.index(b"mdat") < boxes[0], "needs an MP4 with its index (moov) after the media data"
    end = boxes[-1] + struct.unpack(">I", data[boxes[-1]:boxes[-1] + 4])[0]
    out = bytearray(data[:end] + sv3d + data[end:])
    for offset in boxes:
        struct.pack_into(">I", out, offset, struct.unpack(">I", out[offset:offset + 4])[0] + len(sv3d))
    open(path, "wb").write(bytes(out))
    return path


def test_sources_that_are_not_equirectangular_are_rejected_with_what_was_found(tmp_path):
    source, output = tmp_path / "downloads", tmp_path / "yt360"
    source.mkdir()
    equirect = _tag_spherical(_download(str(source / "equirect001.mp4")), b"equi")
    _tag_spherical(_download(str(source / "cubemap0001.mp4")), b"cbmp")  # 2:1 frames, but a cubemap says the file
    _tag_spherical(_download(str(source / "tiled000001.mp4")), b"equi", bounds=(0, 2 ** 31, 0, 0))  # upper half
    _download(str(source / "untagged001.mp4"))
    _download(str(source / "eac00000001.mp4"), size=(96, 64))  # the 3:2 frame of a cubemap layout, no metadata
    assert [spherical_projection(str(source / f"{name}.mp4")) for name in
            ("equirect001", "cubemap0001", "tiled000001", "untagged001")] == [
        "equirectangular", "cubemap", "tiled equirectangular (part of the sphere)", None]
    assert probe_media(equirect).video.width == 64  # the file still reads as before
    segments = tmp_path / "segments.txt"
    segments.write_text("equirect001 0\ncubemap0001 0\ntiled000001 0\nuntagged001 0\neac00000001 0\n")
    assert _run(source, output, segments) == 1
    assert [(m["id"], m["start"]) for m in json.loads((output / "manifest.json").read_text())] == [
        ("equirect001", 0), ("untagged001", 0)]
    assert (output / "problems.txt").read_text().splitlines() == [
        f"{source / 'cubemap0001.mp4'}: the video's spherical metadata says cubemap projection (64×32): needs an "
        "equirectangular source",
        f"{source / 'tiled000001.mp4'}: the video's spherical metadata says tiled equirectangular (part of the "
        "sphere) projection (64×32): needs an equirectangular source",
        f"{source / 'eac00000001.mp4'}: frames are 96×64 (3:2), not 2:1: needs an equirectangular source (3:2 is "
        "typical of cubemap layouts such as YouTube's EAC, 1:1 of top-bottom stereo)"]


def test_own_files_without_a_segment_list_and_a_seeded_split(tmp_path, capsys):
    tool = _tool()
    source, output = tmp_path / "mine", tmp_path / "data"
    source.mkdir()
    for name in ("cam_0000001", "cam-0000002", "cam_0000003"):
        _download(str(source / f"{name}.mp4"))  # 3.0 s each
    _download(str(source / "holiday.mp4"))  # not an 11-character id
    (source / "notes.txt").write_text("not a video")
    # Consecutive segments every ceil(seconds) s that fit in the 3-s source; a too-short file still gets start 0.
    for seconds, starts in ((1, [0, 1, 2]), (1.5, [0]), (3, [0]), (4, [0])):
        assert list_source_segments(str(source), seconds) == (
            [("cam-0000002", starts), ("cam_0000001", starts), ("cam_0000003", starts)], ["holiday.mp4"])
    argv = [str(source), str(output), "--segment-seconds", "1", "--height", "16", "--test-fraction", "0.3"]
    assert tool.main(argv) == 0
    printed = capsys.readouterr().out
    assert "9 segments of 3 files; skipped 1 whose names are not 11-character ids: holiday.mp4" in printed
    assert (output / "segments.txt").read_text() == "cam-0000002 0,1,2\ncam_0000001 0,1,2\ncam_0000003 0,1,2\n"
    assert len(json.loads((output / "manifest.json").read_text())) == 9
    train, test = ((output / f"{split}.txt").read_text().split() for split in ("train", "test"))
    assert len(test) == 1 and sorted(train + test) == ["cam-0000002", "cam_0000001", "cam_0000003"]
    # A second run (another fraction) keeps the split and the segments.
    assert tool.main(argv[:-1] + ["0.6"]) == 0
    assert "train.txt, test.txt: kept (they exist)" in capsys.readouterr().out
    assert (output / "test.txt").read_text().split() == test
    with pytest.raises(DataError, match="no .mp4/.mkv/.webm/.mov file named by an 11-character id"):
        tool.main([str(tmp_path / "data" / "video"), str(tmp_path / "other"), "--segment-seconds", "1"])
