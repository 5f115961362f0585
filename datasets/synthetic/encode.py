"""Writing the synthetic files: H.264 / MPEG-4 video, 4-channel AAC, label-map PNGs and text, each under a temporary
name renamed when complete (a file that exists is complete)."""

from __future__ import annotations

import hashlib
import os
import shutil

import av
import numpy as np
from PIL import Image

from utils import files


def _partial(path: str) -> str:
    return f"{path}.partial"


def write_text(path: str, text: str) -> None:
    """`utils.files.write_text` (atomic), and nothing when the file already holds ``text`` (keeps mtimes for index
    caches)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    files.write_text(path, text)


def _encode_video(target: str, frames: np.ndarray, fps: int, codec: str) -> None:
    if codec == "h264":
        container = av.open(target, "w", format="mp4")
        stream = container.add_stream("libx264", rate=fps,
                                      options={"preset": "veryfast", "crf": "18", "g": str(fps)})
    else:
        container = av.open(target, "w", format="avi")
        stream = container.add_stream("mpeg4", rate=fps)
        stream.codec_tag = "XVID"
        stream.bit_rate = 600_000
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    stream.codec_context.thread_count = 1  # one process per file already
    with container:
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def write_video(path: str, frames: np.ndarray, fps: int, codec: str) -> None:
    """frames uint8 (T, H, W, 3). codec "h264": MP4, keyframe every second (fast seeks); "mpeg4": AVI tagged XVID.

    libx264 is not bit-reproducible on its own here, even single-threaded: an encode right after other work in the
    process (the first one, or one after the AAC encoder) sometimes differs by codec noise, and 9 of 550 demo files
    differed between two generations. Encoding back to back until two results agree gives the same file every time.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = _partial(path)
    _encode_video(partial, frames, fps, codec)
    if codec == "h264":
        previous = _digest(partial)
        for _ in range(3):
            again = f"{partial}.again"
            _encode_video(again, frames, fps, codec)
            digest = _digest(again)
            os.replace(again, partial)
            if digest == previous:
                break
            previous = digest
    os.replace(partial, path)


def write_foa(path: str, foa: np.ndarray, rate: int) -> None:
    """FOA float32 (4, S) → AAC in M4A, channels in the given order. Layout "4.0" is what the original's writer used;
    nothing is resampled or remixed here, and readers should take channels in stored order."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(_partial(path), "w", format="ipod") as container:
        # No perceptual noise substitution or intensity stereo (both destroy the coherence between channels that
        # carries the direction); no TNS (it doubled the error of channel Y). The "fast" coder is ~5× faster than
        # the default; at 64 kbit/s per channel the decoded error is ~2 % RMS.
        stream = container.add_stream("aac", rate=rate, layout="4.0", options={
            "aac_coder": "fast", "aac_pns": "0", "aac_is": "0", "aac_tns": "0"})
        stream.bit_rate = 256_000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(foa), format="fltp", layout="4.0")
        frame.sample_rate, frame.pts = rate, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    os.replace(_partial(path), path)


def write_label_maps(directory: str, things: np.ndarray, stuff: np.ndarray) -> None:
    """things/stuff uint8 (N, H, W) → directory/{things,stuff}-NNNN.png (grayscale), the directory renamed whole."""
    partial = _partial(directory)
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    for n in range(len(things)):
        Image.fromarray(things[n], mode="L").save(os.path.join(partial, f"things-{n:04d}.png"), compress_level=1)
        Image.fromarray(stuff[n], mode="L").save(os.path.join(partial, f"stuff-{n:04d}.png"), compress_level=1)
    os.replace(partial, directory)
