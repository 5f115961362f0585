"""read_video's fast path (non-reference frames skipped before the window) returns exactly the frames a full decode
from the start of the file displays at each target time, on a stream with B-frames and on one with a long gap."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from utils.media import read_video

FPS = 30


def _write(path, times=None, frames=90, bframes=3, gop=60):
    """64×32 H.264 with B-frames (some non-reference); frame n has its own moving pattern. times: VFR timestamps."""
    y, x = np.mgrid[0:32, 0:64]
    with av.open(path, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.options = {"crf": "18", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                          "bf": str(bframes), "preset": "veryfast"}
        if times is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for n in range(frames):
            image = np.stack([(x * 4 + 7 * n) % 256, (y * 8 + 3 * n) % 256, np.full_like(x, (5 * n) % 256)], -1)
            frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[n] * 1000)), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _reference(path, start, duration, fps):
    """Decode every frame from the start, no seek, no skipping; the frame displayed at each target time."""
    with av.open(path) as container:
        decoded = [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    targets = start + np.arange(int(round(duration * fps))) / fps
    out = []
    for target in targets:
        shown = [image for time, image in decoded if time <= target + 5e-7]
        out.append(shown[-1] if shown else decoded[0][1])
    return torch.from_numpy(np.stack(out))


def _has_nonreference_frames(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        return sum(1 for _ in container.decode(stream)) < stream.frames


@pytest.mark.parametrize("start", [0.0, 0.9, 1.37, 2.5])
def test_window_equals_full_decode_with_bframes(tmp_path, start):
    path = _write(str(tmp_path / "b.mp4"))
    assert _has_nonreference_frames(path)  # otherwise the fast path is not exercised
    torch.testing.assert_close(read_video(path, start, 0.5, 16), _reference(path, start, 0.5, 16), rtol=0, atol=0)


def test_gap_longer_than_the_margin_redecodes_without_skipping(tmp_path):
    # Frames at 30 fps, then nothing from 1.0 s to 2.0 s: the frame shown at 1.9 s is the one at ~1.0 s, before the
    # skip margin; it must still be that frame (not an older reference frame).
    times = [n / FPS for n in range(31)] + [2.0 + n / FPS for n in range(30)]
    path = _write(str(tmp_path / "gap.mp4"), times=times, frames=len(times))
    torch.testing.assert_close(read_video(path, 1.9, 0.25, 16), _reference(path, 1.9, 0.25, 16), rtol=0, atol=0)
