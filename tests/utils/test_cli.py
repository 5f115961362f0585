"""utils/cli.run_main: how a command ends."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_reader_that_stops_reading_ends_the_program_quietly():
    """`tool --dry-run | head`: the pipe closes before the output is written; no BrokenPipeError traceback."""
    code = "from utils.cli import run_main; run_main(lambda argv: print('plan line\\n' * 20000))"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write
    try:
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=60)
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode == 141
