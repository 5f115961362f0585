#!/usr/bin/env python
"""Cut downloaded full-length 360° videos into the YT-360 layout listed in segments.txt, in parallel and resumably.

    python tools/prepare_yt360.py downloads/ data/yt360 --segments segments.txt [--height 480] [--keyframe-interval 0.5]
                                  [--audio-rate 24000] [--no-fast-decode] [--workers N]
    python tools/prepare_yt360.py my-videos/ data/mine --test-fraction 0.2      # your own files, no segments.txt

Source checks (tools/prepare/source.py) → cut (cut.py) by a worker pool (run.py). Layout, checks, problems.txt,
manifest.json, resume, encoding and exit codes: docs/data.md, "Preparing YT-360".
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.prepare.cut import CutSettings  # noqa: E402
from tools.prepare.run import clock, prepare  # noqa: E402
from tools.prepare.source import list_source_segments, read_segments, write_split_lists  # noqa: E402
from utils.cli import available_cores, run_main  # noqa: E402
from utils.files import write_text  # noqa: E402

PRINTED_PROBLEMS = 20  # problem lines repeated on the console (all of them are in problems.txt)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder of full-length {ID}.mp4/.mkv/.webm/.mov files")
    parser.add_argument("output", help="dataset root to write (video/, audio/, manifest.json, problems.txt)")
    parser.add_argument("--segments", help="segments.txt: '{ID} t1,t2,...' per line (default: every {ID}.ext of "
                        "SOURCE cut into consecutive segments, the list written to OUTPUT/segments.txt)")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help="also write OUTPUT/train.txt and test.txt: this fraction of the ids, drawn at random "
                        "(seed 0), for testing (kept when they exist)")
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=480, help="output frame height (width = 2·height)")
    parser.add_argument("--keyframe-interval", type=float, default=0.5, help="seconds between keyframes")
    parser.add_argument("--crf", type=int, default=20, help="H.264 quality (lower = better, larger)")
    parser.add_argument("--audio-rate", type=int, default=24000,
                        help="FOA sample rate of the written audio (the training rate; 0: the source's own)")
    parser.add_argument("--no-fast-decode", dest="fast_decode", action="store_false",
                        help="encode without x264's tune=fastdecode (smaller files, slower to decode)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes cutting in parallel (default: every core this process may use)")
    args = parser.parse_args(argv)
    if args.height < 2 or args.height % 2:
        parser.error("--height must be a positive even number")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.test_fraction is not None and not 0 < args.test_fraction < 1:
        parser.error("--test-fraction must be between 0 and 1")
    workers = args.workers or available_cores()
    settings = CutSettings(args.segment_seconds, args.height, args.keyframe_interval, args.crf, args.audio_rate,
                           args.fast_decode)
    if args.segments:
        segments = read_segments(args.segments)
    else:
        segments, skipped = list_source_segments(args.source, args.segment_seconds)
        os.makedirs(args.output, exist_ok=True)
        write_text(os.path.join(args.output, "segments.txt"),
                   "".join(f"{video_id} {','.join(map(str, starts))}\n" for video_id, starts in segments))
        print(f"{args.output}/segments.txt: {sum(len(s) for _, s in segments)} segments of {len(segments)} files"
              + (f"; skipped {len(skipped)} whose names are not 11-character ids: {', '.join(skipped[:5])}"
                 + (", ..." if len(skipped) > 5 else "") if skipped else ""))
    if args.test_fraction is not None:
        wrote = write_split_lists(args.output, [video_id for video_id, _ in segments], args.test_fraction)
        print(f"{args.output}/train.txt, test.txt: {'written' if wrote else 'kept (they exist)'}")
    run = prepare(args.source, args.output, segments, settings, workers)
    problems = [run.problems[key] for key in sorted(run.problems)]
    print(f"{args.output}: {run.written} segments written, {run.kept} already there (kept), {len(problems)} problems, "
          f"in {clock(run.seconds)} ({run.written / max(run.seconds, 1e-9):.2f} segments/s, {run.workers} "
          f"worker(s)); manifest.json lists {len(run.entries)} segments"
          + (f"; see {os.path.join(args.output, 'problems.txt')}:" if problems else ""))
    for line in problems[:PRINTED_PROBLEMS]:
        print(f"  {line}")
    if len(problems) > PRINTED_PROBLEMS:
        print(f"  ... and {len(problems) - PRINTED_PROBLEMS} more")
    return 1 if problems else 0


if __name__ == "__main__":
    run_main(main)
