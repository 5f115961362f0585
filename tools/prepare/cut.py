"""One segment cut from its source: the video re-encoded to H.264 (2·height × height, short keyframe interval, x264
tune=fastdecode), the FOA channels in stored order resampled and encoded as AAC channel by channel (never remixed),
and both written files measured against the requested length."""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction

import av
from av.video.reformatter import VideoReformatter
import numpy as np

from datasets.yt360 import AUDIO_TOLERANCE_S
from utils.errors import DataError
from utils.files import file_sha256
from utils.media import open_media, probe_media, read_audio

# FFmpeg's native AAC encoder at 128 kb/s a channel (its ceiling at 24 kHz is 144 kb/s, which moves the FOA direction
# as much). Intensity stereo and perceptual noise substitution are off: they rebuild a channel of a pair from the
# other or from noise, which can only move the direction (docs/data.md measures both settings).
AUDIO_BIT_RATE = 128_000
AAC_OPTIONS = {"aac_is": "0", "aac_pns": "0"}


@dataclasses.dataclass(frozen=True)
class CutSettings:
    """How every segment is cut (tools/prepare_yt360.py's options). The defaults, fastdecode video and FOA at the
    24-kHz training rate, make the files load 1.35× faster for ≈ 1.6× their size (docs/performance.md)."""

    seconds: float
    height: int
    keyframe_interval: float
    crf: int
    audio_rate: int = 24000  # 0: the source's own
    fast_decode: bool = True
    threads: int = 0  # codec threads of one process (0: FFmpeg's choice)



def cut_video(source: str, target: str, start: float, seconds: float, height: int, keyframe_interval: float,
              crf: int, fast_decode: bool = True, threads: int = 0) -> None:
    """Re-encode [start, start + seconds) of ``source`` to H.264 (2·height × height), streaming frame by frame.
    ``fast_decode``: x264's ``tune=fastdecode`` (CAVLC instead of CABAC, no deblocking filter, no weighted
    prediction): cheaper to decode, larger at the same crf. ``threads``: decoder and encoder threads (0: FFmpeg's
    choice)."""
    with open_media(source) as container, av.open(target, "w", format="mp4") as output:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate or 30
        encoder = output.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = 2 * height, height, "yuv420p"
        encoder.codec_context.thread_count = threads
        encoder.options = {"crf": str(crf), "g": str(max(1, round(float(rate) * keyframe_interval))),
                           "keyint_min": "1", "sc_threshold": "0", "bf": "0", "preset": "veryfast",
                           **({"tune": "fastdecode"} if fast_decode else {})}
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        written, scaler = 0, VideoReformatter()  # one scaling context for all frames (not one per frame)
        for frame in container.decode(stream):
            if frame.time is None or frame.time < start - 1e-6:
                continue
            if frame.time >= start + seconds - 1e-6:
                break
            image = scaler.reformat(frame, width=2 * height, height=height, format="yuv420p")
            image.pts, image.time_base = written, 1 / Fraction(rate)  # constant frame rate, from 0
            output.mux(encoder.encode(image))
            written += 1
        output.mux(encoder.encode(None))
    if not written:
        raise DataError(f"{source}: no video frames in [{start}, {start + seconds}) s")


def encode_aac(foa: np.ndarray, rate: int, target: str, options: dict | None = None,
               bit_rate: int = AUDIO_BIT_RATE) -> None:
    """(4, S) float FOA → 4-channel AAC in an MP4 container, ``bit_rate`` per channel, channels in the given order.
    ``options``: the encoder's private options (default `AAC_OPTIONS`)."""
    with av.open(target, "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=rate, layout="4.0")
        stream.bit_rate = foa.shape[0] * bit_rate
        stream.options = dict(AAC_OPTIONS if options is None else options)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(foa, dtype=np.float32), format="fltp", layout="4.0")
        frame.sample_rate, frame.pts = rate, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


def cut_audio(source: str, target: str, start: float, seconds: float, rate: int, options: dict | None = None,
              bit_rate: int = AUDIO_BIT_RATE) -> float:
    """The FOA of [start, start + seconds) at ``rate`` Hz, channels in stored order, as 4-channel AAC (`encode_aac`).
    Returns the seconds of the window that the source's audio covers (the rest is written as zeros)."""
    foa, padding = read_audio(source, start, seconds, rate, return_padding=True)
    encode_aac(foa.numpy(), rate, target, options, bit_rate)
    return (foa.shape[1] - padding) / rate


def cut_segment(source: str, output: str, video_id: str, start: int, settings: CutSettings,
                source_rate: int) -> tuple[dict, bool]:
    """Cut one segment, keeping its files that already exist (written under a temporary name, so complete), and
    check it: (manifest entry, whether anything was written). DataError when it cannot be cut or is shorter than
    requested; its files are then removed."""
    name = f"{video_id}-{start}"
    paths = {kind: os.path.join(output, kind, f"{name}.{ext}") for kind, ext in (("video", "mp4"), ("audio", "m4a"))}
    seconds, wrote, covered = settings.seconds, False, None
    try:
        if not os.path.exists(paths["video"]):
            cut_video(source, f"{paths['video']}.partial", start, seconds, settings.height,
                      settings.keyframe_interval, settings.crf, settings.fast_decode, settings.threads)
            os.replace(f"{paths['video']}.partial", paths["video"])
            wrote = True
        if not os.path.exists(paths["audio"]):
            covered = cut_audio(source, f"{paths['audio']}.partial", start, seconds,
                                settings.audio_rate or source_rate)
            os.replace(f"{paths['audio']}.partial", paths["audio"])
            wrote = True
        video, audio = probe_media(paths["video"]), probe_media(paths["audio"])
        if video.video is None or audio.audio is None:  # a damaged file from an earlier run
            raise DataError(f"{paths['video' if video.video is None else 'audio']}: no stream in the written file")
        video_seconds, audio_seconds = video.duration or 0.0, audio.duration or 0.0
        if covered is not None:  # zeros past the end of the source's audio do not count
            audio_seconds = min(audio_seconds, covered)
        frame = 1.0 / video.video.fps if video.video.fps else 0.0
        if video_seconds < seconds - frame - 1e-3 or audio_seconds < seconds - AUDIO_TOLERANCE_S:
            raise DataError(f"video {video_seconds:.2f} s, audio {audio_seconds:.2f} s: shorter than the requested "
                            f"{seconds:g} s (the source's streams end early: an interrupted download?); removed")
    except (DataError, av.FFmpegError, OSError) as err:
        for path in paths.values():
            for leftover in (path, f"{path}.partial"):
                if os.path.exists(leftover):
                    os.remove(leftover)
        reason = " ".join(str(err).split())
        reason = reason[len(source) + 2:] if reason.startswith(f"{source}: ") else reason
        raise DataError(f"{source}: segment {name}: {reason}") from None
    entry = {
        "id": video_id, "start": start, "video": f"video/{name}.mp4", "audio": f"audio/{name}.m4a",
        "duration": round(min(video.duration, audio.duration), 3),
        "width": video.video.width, "height": video.video.height, "fps": video.video.fps,
        "channels": audio.audio.channels, "rate": audio.audio.rate,
        "bytes": {kind: os.path.getsize(path) for kind, path in paths.items()},
        "sha256": {kind: file_sha256(path) for kind, path in paths.items()},
    }
    return entry, wrote

