"""Worker processes the tests start and step through their stdin and stdout: a process says
``ready`` (or what it holds), waits for a line, then does its part."""

import subprocess
import sys


def start(code: str, *args: str) -> subprocess.Popen[str]:
    """Run ``code`` with ``args`` in a Python process of its own, its stdin and stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def tell(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def said(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()
