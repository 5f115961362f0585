"""Decoding 360° video and ambisonic audio with PyAV.

Times are presentation times in seconds on the file's own timeline (0 = the first frame for files that start at 0),
the same for video and audio, so a window [start, start + duration) is synchronised across both streams.
`read_video` decodes only the requested window, once; `read_audio` returns the channels exactly in stored order. Every
failure is a one-line `DataError("<path>: <reason>")`, never a raw PyAV exception. `open_media` reads container and
stream tags that are not valid UTF-8 (the Latin-1/CP1252 tags of many HMDB51 AVIs) with U+FFFD for the bad bytes.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass

import av
import numpy as np
import torch
import torchaudio.functional as AF

from utils.errors import DataError

__all__ = ["AudioInfo", "DecodeCache", "MediaInfo", "VideoInfo", "open_media", "probe_media", "read_audio",
           "read_video"]

log = logging.getLogger(__name__)

# Audio decoded around the window on each side, so that the resampling filter sees real signal at the window edges.
_AUDIO_MARGIN_S = 0.05


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float | None  # None when the container does not state it
    num_frames: int | None
    codec: str


@dataclass(frozen=True)
class AudioInfo:
    rate: int
    channels: int
    layout: str  # FFmpeg's name for the stored layout ("quad", "4.0", "4 channels" when untagged, ...)
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    duration: float | None  # seconds; None when neither the container nor the streams state it
    video: VideoInfo | None
    audio: AudioInfo | None


def open_media(path):
    """``av.open(path)`` for reading, with lenient tag decoding; a DataError instead of PyAV's exceptions."""
    try:
        return av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise DataError(f"{path}: cannot open ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _stream_duration(stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def probe_media(path) -> MediaInfo:
    """What the container says about the file (no decoding). Values the container lacks are None."""
    with open_media(path) as container:
        video = audio = None
        if container.streams.video:
            s = container.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            video = VideoInfo(s.codec_context.width, s.codec_context.height, float(rate) if rate else None,
                              s.frames or None, s.codec_context.name)
        if container.streams.audio:
            s = container.streams.audio[0]
            audio = AudioInfo(s.codec_context.sample_rate, s.codec_context.channels, s.codec_context.layout.name,
                              s.codec_context.name)
        durations = [d for d in (_stream_duration(s) for s in container.streams) if d is not None]
        if container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = max(durations) if durations else None
        return MediaInfo(duration, video, audio)


def _seek(container, stream, time: float) -> None:
    """Seek to the keyframe at or before ``time`` (no seek near the start: it would only cost time)."""
    if time > 0 and stream.time_base is not None:
        container.seek(int(time / stream.time_base), stream=stream, backward=True, any_frame=False)


# Packets this long before the window are decoded with FFmpeg's skip_frame = NONREF: frames no other frame references
# (most B-frames) are not decoded at all, which is exact for every frame that is decoded. The frame displayed at
# ``start`` lies in the last frame interval before it, so a margin of a few native frame intervals keeps it decoded;
# a file whose frames are further apart is decoded again from its start without skipping (see `read_video`).
_SKIP_MARGIN_FRAMES = 4


def _decode_window(container, stream, times: np.ndarray, size, skip_before: float | None):
    """Frames displayed at ``times`` (sorted): for each target, the last decoded frame whose timestamp is ≤ it.
    skip_before: presentation time before which non-reference frames are not decoded (None: decode all).
    Returns None when nothing was decoded, or when a skipped frame could have been displayed in the window."""
    chosen: list = [None] * len(times)
    previous, previous_time, index = None, -math.inf, 0
    step = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
    context = stream.codec_context
    skipping = False
    # In stream ticks (integers): Fraction arithmetic per packet costs more than the skipped frames save.
    skip_ticks = skip_before / float(stream.time_base) if skip_before is not None and stream.time_base else None

    def frames():
        nonlocal skipping
        for packet in container.demux(stream):
            if skip_ticks is not None:
                early = packet.pts is not None and packet.pts < skip_ticks
                if early != skipping:
                    context.skip_frame, skipping = ("NONREF" if early else "DEFAULT"), early
            yield from packet.decode()  # the empty packet at the end flushes the decoder

    try:
        for frame in frames():
            # Frames without timestamps (broken files) get the previous one plus a nominal frame step.
            time = frame.time if frame.time is not None else previous_time + step
            # A target shows the previous frame until this frame's time; half a microsecond absorbs rounding.
            while index < len(times) and times[index] < time - 5e-7:
                chosen[index] = previous
                index += 1
            previous, previous_time = frame, time
            if index == len(times):
                break
    finally:
        if skipping:
            context.skip_frame = "DEFAULT"
    while index < len(times):  # past the last frame: keep showing it
        chosen[index] = previous
        index += 1
    if chosen[0] is None and previous is not None:  # window begins before the first frame: show the first frame
        first = next(f for f in chosen if f is not None)
        chosen = [first if f is None else f for f in chosen]
    if previous is None:
        return None
    # The first target shows a frame older than the skip boundary: a skipped frame may have been the right one.
    shown_time = chosen[0].time if chosen[0].time is not None else -math.inf
    if skip_before is not None and shown_time < skip_before:
        return None
    height, width = size if size is not None else (previous.height, previous.width)
    converted: dict[int, np.ndarray] = {}
    for frame in chosen:  # each distinct frame converted (and downscaled) once
        if id(frame) not in converted:
            converted[id(frame)] = frame.to_ndarray(format="rgb24", width=width, height=height,
                                                    interpolation="BILINEAR")
    return np.stack([converted[id(frame)] for frame in chosen])


def _video_stream(container, path):
    if not container.streams.video:
        raise DataError(f"{path}: no video stream")
    stream = container.streams.video[0]
    # Decoder threads follow the process's torch thread budget: one in a DataLoader worker (seed_worker sets 1; frame
    # threads there only add CPU time), FFmpeg's choice in a main process with several.
    stream.thread_type = "AUTO" if torch.get_num_threads() > 1 else "NONE"
    return stream


def read_video(path, start: float, duration: float, fps: float, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Frames at times start + n/fps, n < round(duration·fps), as uint8 (T, H, W, 3) RGB.

    Seeks to the keyframe preceding ``start`` and returns, for every target time, the frame *displayed* at that time
    (the last frame whose timestamp is ≤ it). Frames missing at the end repeat the last one; the native frame rate and
    duration are never needed (broken metadata is fine). size: optional (height, width) to scale to while converting
    from the decoder's YUV (one swscale pass per frame).
    """
    num = int(round(duration * fps))
    if num <= 0:
        raise DataError(f"{path}: empty video window (duration {duration} s at {fps} fps)")
    times = start + np.arange(num) / fps
    with open_media(path) as container:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate
        margin = _SKIP_MARGIN_FRAMES / float(rate) if rate else None
        try:
            _seek(container, stream, start)
            frames = _decode_window(container, stream, times, size,
                                    start - margin if margin and start > margin else None)
            if frames is None and start > 0:  # the seek overshot a short or badly indexed file, or frames are
                container.seek(0)              # further apart than the skip margin: decode from 0, skipping nothing
                frames = _decode_window(container, stream, times, size, None)
        except av.FFmpegError as err:
            raise DataError(f"{path}: video decoding failed ({_reason(err)})") from None
    if frames is None:
        raise DataError(f"{path}: video stream has no decodable frames")
    return torch.from_numpy(frames)


def _to_float_planar(frame) -> np.ndarray:
    """(C, n) float32 in [-1, 1] from any FFmpeg sample format, channels in stored order."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:  # packed: (1, n·C) interleaved
        data = data.reshape(-1, channels).T
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    if data.dtype == np.int32:
        return data.astype(np.float32) / 2147483648.0
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    return data.astype(np.float32, copy=False)


def _fuma_to_ambix(audio: torch.Tensor) -> torch.Tensor:
    """Traditional B-format (W, X, Y, Z; W scaled by 1/√2) → ambiX (W, Y, Z, X; SN3D)."""
    return torch.stack([audio[0] * math.sqrt(2.0), audio[2], audio[3], audio[1]])


def read_audio(path, start: float, duration: float, rate: int, audio_format: str = "ambix",
               return_padding: bool = False):
    """Samples of [start, start + duration) at ``rate`` Hz as float32 (C, S), S = round(duration·rate).

    Channels keep the stored order (ambiX files: W, Y, Z, X); ``audio_format="fuma"`` converts a 4-channel
    traditional B-format file to ambiX. Samples are decoded at the native rate and format, converted to float and
    resampled per channel with torchaudio, never remixed (the original asked FFmpeg for layout "4.0", which remixes
    files tagged "quad" or untagged). The part of the window past the end of the stream is zeros: it is logged, and
    with ``return_padding=True`` the result is ``(audio, padded_samples)``. A window entirely outside the stream is a
    DataError.
    """
    if audio_format not in ("ambix", "fuma"):
        raise ValueError(f"audio_format must be 'ambix' or 'fuma', not {audio_format!r}")
    audio, first_time = _decode_audio(path, start - _AUDIO_MARGIN_S, start + duration + _AUDIO_MARGIN_S, rate)
    if audio is None:
        raise DataError(f"{path}: audio window [{start:.3f}, {start + duration:.3f}) s is outside the stream")
    return _audio_window(path, audio, first_time, start, duration, rate, audio_format, return_padding)


def _decode_audio(path, begin: float, end: float, rate: int):
    """Samples of [begin, end) (whole native frames) resampled to ``rate``: (audio (C, n), time of its first
    sample), or (None, None) when no frame overlaps the interval."""
    with open_media(path) as container:
        if not container.streams.audio:
            raise DataError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        native = stream.codec_context.sample_rate
        if not native:
            raise DataError(f"{path}: audio stream has no sample rate")
        chunks, first_time = [], None
        try:
            _seek(container, stream, begin)
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else (
                    first_time + sum(c.shape[1] for c in chunks) / native if first_time is not None else 0.0)
                if time + frame.samples / native <= begin:
                    continue
                if time >= end:
                    break
                if first_time is None:
                    first_time = time
                chunks.append(_to_float_planar(frame))
        except av.FFmpegError as err:
            raise DataError(f"{path}: audio decoding failed ({_reason(err)})") from None
    if not chunks:
        return None, None
    native_audio = torch.from_numpy(np.concatenate(chunks, axis=1))
    # Resampling works along the last axis of (C, n): every channel is filtered on its own, nothing is mixed.
    return (AF.resample(native_audio, native, rate) if native != rate else native_audio), first_time


def _audio_window(path, audio: torch.Tensor, first_time: float, start: float, duration: float, rate: int,
                  audio_format: str, return_padding: bool):
    """The [start, start + duration) window of decoded ``audio`` (first sample at ``first_time``), zero-padded."""
    num = int(round(duration * rate))
    offset = int(round((start - first_time) * rate))
    available = audio[:, max(offset, 0): max(offset + num, 0)]
    lead = min(max(-offset, 0), num)  # window starts before the first sample (e.g. a stream starting after 0)
    available = available[:, : num - lead]
    padding = num - available.shape[1]
    out = torch.zeros(audio.shape[0], num, dtype=torch.float32)
    out[:, lead: lead + available.shape[1]] = available
    if padding > 0:
        log.warning("%s: audio window [%.3f, %.3f) s exceeds the stream; %d of %d samples zero-padded",
                    path, start, start + duration, padding, num)
    if audio_format == "fuma":
        if out.shape[0] != 4:
            raise DataError(f"{path}: audio_format fuma needs 4 channels, the file has {out.shape[0]}")
        out = _fuma_to_ambix(out)
    return (out, padding) if return_padding else out


class DecodeCache:
    """Whole files decoded once per process and kept in memory (least recently used dropped beyond ``max_mb``).

    `video` and `audio` take the arguments of `read_video` / `read_audio` and return the same windows: a video
    target shows the last frame whose timestamp is ≤ it (the first frame before it, the last one after the end);
    audio is sliced from the whole decoded stream: equal to `read_audio` for PCM at the requested rate; for AAC a
    windowed read restarts the decoder at its seek point, so the two differ by codec noise (both aligned with the
    source, tested), and with resampling the filter sees the whole stream instead of the window ± 50 ms.
    Meant for small datasets read for many epochs (the synthetic demo set).

    ``directory``: also keep each decoded file there (``.npy``, named by a hash of the path, its size and mtime, so an
    edited file is decoded again) and memory-map it on later use: other processes — the other jobs of a suite, the
    DataLoader workers — then share the pages of one decoded copy instead of decoding again.
    """

    def __init__(self, max_mb: float, directory: str | None = None):
        self.max_bytes = int(max_mb * 2 ** 20)
        self.directory = directory
        self._entries: dict[tuple, tuple] = {}  # insertion order = recency (moved to the end on use)
        self._bytes = 0
        self._overflowed = False

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def overflowed(self) -> bool:
        """True once an entry had to be dropped or refused: the cache holds less than what was read."""
        return self._overflowed

    def _get(self, key: tuple, load):
        entry = self._entries.pop(key, None)
        if entry is None:
            entry = self._load_stored(key, load) if self.directory else load()
            size = _nbytes(entry)
            if size > self.max_bytes:  # larger than the whole cache: serve it without keeping it
                self._overflowed = True
                return entry
            while self._entries and self._bytes + size > self.max_bytes:
                self._overflowed = True
                self._bytes -= _nbytes(self._entries.pop(next(iter(self._entries))))
            self._bytes += size
        self._entries[key] = entry
        return entry

    def _load_stored(self, key: tuple, load):
        """(array, metadata) from the directory, memory-mapped copy-on-write; decoded and stored when missing."""
        stat = os.stat(key[1])
        name = hashlib.sha1(repr((*key, stat.st_size, stat.st_mtime_ns)).encode()).hexdigest()
        data_path, meta_path = (os.path.join(self.directory, f"{name}.{part}.npy") for part in ("data", "meta"))
        if os.path.isfile(meta_path):  # written last: its presence means both files are complete
            try:
                meta = np.load(meta_path)
                data = torch.from_numpy(np.load(data_path, mmap_mode="c"))
                return data, (meta if key[0] == "video" else float(meta[0]))
            except (OSError, ValueError):
                pass  # unreadable (e.g. truncated by a full disk): decode again below
        data, meta = load()
        os.makedirs(self.directory, exist_ok=True)
        for target, array in ((data_path, data.numpy()), (meta_path, np.atleast_1d(np.asarray(meta, np.float64)))):
            temporary = f"{target}.{os.getpid()}.tmp"
            try:
                with open(temporary, "wb") as f:
                    np.save(f, array)
                os.replace(temporary, target)
            except OSError as err:  # a cache that cannot be written is not an error: keep the decoded copy
                log.warning("decode cache: cannot write %s (%s); continuing without it", target, err)
                if os.path.exists(temporary):
                    os.remove(temporary)
                break
        return data, meta

    def video(self, path, start: float, duration: float, fps: float,
              size: tuple[int, int] | None = None) -> torch.Tensor:
        num = int(round(duration * fps))
        if num <= 0:
            raise DataError(f"{path}: empty video window (duration {duration} s at {fps} fps)")
        frames, times = self._get(("video", str(path), size), lambda: _decode_all_frames(path, size))
        targets = start + np.arange(num) / fps
        # The frame displayed at t: the last one whose timestamp is ≤ t (half a microsecond absorbs rounding).
        index = np.clip(np.searchsorted(times, targets + 5e-7, side="right") - 1, 0, len(times) - 1)
        return frames[torch.from_numpy(index)]

    def audio(self, path, start: float, duration: float, rate: int, audio_format: str = "ambix",
              return_padding: bool = False):
        if audio_format not in ("ambix", "fuma"):
            raise ValueError(f"audio_format must be 'ambix' or 'fuma', not {audio_format!r}")

        def load():
            audio, first_time = _decode_audio(path, -math.inf, math.inf, rate)
            if audio is None:
                raise DataError(f"{path}: audio stream has no decodable frames")
            return audio, first_time

        audio, first_time = self._get(("audio", str(path), rate), load)
        if start + duration <= first_time or start >= first_time + audio.shape[1] / rate:
            raise DataError(f"{path}: audio window [{start:.3f}, {start + duration:.3f}) s is outside the stream")
        return _audio_window(path, audio, first_time, start, duration, rate, audio_format, return_padding)


def _nbytes(entry: tuple) -> int:
    return sum(t.nbytes for t in entry if isinstance(t, (torch.Tensor, np.ndarray)))


def _decode_all_frames(path, size) -> tuple[torch.Tensor, np.ndarray]:
    """Every frame of the file as uint8 (N, H, W, 3) RGB, with presentation times (N,) in seconds (sorted)."""
    with open_media(path) as container:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate
        step = 1.0 / float(rate) if rate else 0.0
        arrays, times, previous_time = [], [], -math.inf
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else previous_time + step
                height, width = size if size is not None else (frame.height, frame.width)
                arrays.append(frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR"))
                times.append(time)
                previous_time = time
        except av.FFmpegError as err:
            raise DataError(f"{path}: video decoding failed ({_reason(err)})") from None
    if not arrays:
        raise DataError(f"{path}: video stream has no decodable frames")
    order = np.argsort(np.asarray(times), kind="stable")  # decoders emit in presentation order; be safe
    return torch.from_numpy(np.stack(arrays)[order]), np.asarray(times, dtype=np.float64)[order]
