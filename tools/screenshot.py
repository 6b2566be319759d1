"""Render an HTML file to a PNG with headless Chromium: ``python tools/screenshot.py in.html out.png``.

Used by ``make docs`` for ``docs/report.png``.  Chromium's ``--screenshot`` mode shoots one
window, so the window is made tall (``--height``, default 8000 px) and the blank space
below the page is cropped off with Pillow (a dependency of matplotlib).  Chromium runs
with a throw-away profile and no network (every host name resolves to nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def crop_blank_bottom(path: Path, margin: int = 24) -> None:
    """Cut the rows below the last non-background pixel (keeping ``margin`` px)."""
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
    box = ImageChops.difference(rgb, background).getbbox()
    bottom = min(rgb.height, (box[3] if box else 0) + margin)
    rgb.crop((0, 0, rgb.width, max(bottom, 1))).save(path, format="PNG", optimize=True)


def screenshot(src: Path, out: Path, width: int = 1280, height: int = 8000) -> None:
    """Write a PNG of ``src`` as laid out in a ``width`` px wide window."""
    binary = find_chromium()
    if binary is None:
        raise SystemExit("screenshot: Chromium not found (make system-deps installs it as root)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="logcorr-shot-") as tmp:
        shot = Path(tmp) / "shot.png"
        cmd = [binary, *FLAGS, f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
               f"--screenshot={shot}", src.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0 or not shot.exists():
            raise SystemExit(f"screenshot: chromium failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        crop_blank_bottom(shot)
        shutil.move(str(shot), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="the HTML file")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=8000, help="tallest page captured (px)")
    args = parser.parse_args(argv)
    if not args.src.is_file():
        raise SystemExit(f"screenshot: {args.src}: no such file")
    screenshot(args.src, args.out, args.width, args.height)
    print(f"{args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
