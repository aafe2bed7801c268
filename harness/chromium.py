"""Debian's Chromium, headless, for tests of the receiver's HTML pages: the DOM as rendered and a screenshot.

Every run gets a fresh profile (`--user-data-dir` in a temporary directory), no sandbox (tests run as
root), no GPU, no background traffic (component updates, sync, first-run fetches), and a host resolver
that resolves nothing but 127.0.0.1: it can load the loopback page it is given and nothing else. The
process runs in its own session and is killed with its children if it overruns.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import tempfile
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

from harness.binaries import DebianPackageMissingError, debian_binary

CHROMIUM = Path("/usr/bin/chromium")
PHONE = (390, 844)  # CSS pixels of a common phone held upright
TIMEOUT = 90.0

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def binary() -> Path:
    """The chromium binary, or DebianPackageMissingError naming the install command."""
    return debian_binary(CHROMIUM, "chromium", "Chromium (for the HTML page tests)")


def _loopback(url: str) -> str:
    if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
        raise ValueError(f"Chromium only ever loads 127.0.0.1 in tests, not {url!r}")
    return url


def _run(extra: list[str], url: str, *, size: tuple[int, int], timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="rr-chromium-") as profile:
        argv = [
            str(binary()),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            *extra,
            _loopback(url),
        ]
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": profile},
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError(f"chromium did not finish loading {url} within {timeout:.0f}s") from None
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.returncode != 0:
            raise AssertionError(f"chromium exited {process.returncode} on {url}: {err[-2000:]}")
        return out


def dump_dom(url: str, *, size: tuple[int, int] = PHONE, timeout: float = TIMEOUT) -> str:
    """The page's DOM after Chromium loaded and laid it out (what a person sees as text)."""
    return _run(["--dump-dom"], url, size=size, timeout=timeout)


def screenshot(url: str, path: Path, *, size: tuple[int, int] = PHONE, timeout: float = TIMEOUT) -> Png:
    """A PNG of the page at `size` (a phone by default), written to `path`."""
    _run([f"--screenshot={path}"], url, size=size, timeout=timeout)
    if not path.is_file():
        raise AssertionError(f"chromium wrote no screenshot of {url} to {path}")
    return Png.read(path)


@dataclass(frozen=True, slots=True)
class Png:
    """What a test checks of a screenshot: its size and that it shows something (not one flat colour)."""

    width: int
    height: int
    distinct_rows: int  # how many different pixel rows it has: a blank page has one
    dark_pixels: int  # pixels much darker than the background: text

    @classmethod
    def read(cls, path: Path) -> Png:
        data = path.read_bytes()
        if data[:8] != b"\x89PNG\r\n\x1a\n":
            raise AssertionError(f"{path} is not a PNG")
        chunks: dict[bytes, bytes] = {}
        offset = 8
        while offset < len(data):
            (length,) = struct.unpack(">I", data[offset : offset + 4])
            kind = data[offset + 4 : offset + 8]
            chunks[kind] = chunks.get(kind, b"") + data[offset + 8 : offset + 8 + length]
            offset += 12 + length
        width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
        channels = {2: 3, 6: 4}.get(colour)
        if depth != 8 or channels is None:
            raise AssertionError(f"unexpected PNG format in {path}: depth {depth}, colour type {colour}")
        rows = _unfilter(zlib.decompress(chunks[b"IDAT"]), width, height, channels)
        dark = sum(
            1
            for row in rows
            for x in range(0, len(row), channels)
            if row[x] + row[x + 1] + row[x + 2] < 3 * 110
        )
        return cls(width, height, len(set(rows)), dark)


def _unfilter(raw: bytes, width: int, height: int, channels: int) -> list[bytes]:
    """PNG scanline filters undone (None, Sub, Up, Average, Paeth)."""
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    position = 0
    for _ in range(height):
        kind = raw[position]
        line = bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


__all__ = ["PHONE", "DebianPackageMissingError", "Png", "binary", "dump_dom", "screenshot"]
