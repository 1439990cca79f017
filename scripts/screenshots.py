"""Screenshots of the dashboard for the README and for review: the map and meeting mode, as
an analyst and as the public, at 1600 x 1000 and 1920 x 1080, on the synthetic demo.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--store stores/demo]

It starts the dashboard as ``scripts/dashboard`` serves it (``server.py``) on a free port,
opens each view in Debian's Chromium with every request outside localhost refused, waits
until the map has drawn, and writes small JPEGs.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SIZES = ((1600, 1000), (1920, 1080))
# name -> query string: the open demo previews roles with ?view=.
VIEWS = {
    "analyst-map": "",
    "analyst-meeting": "mode=meeting&hotspots=gistar",
    "public-map": "view=public",
    "public-meeting": "view=public&mode=meeting",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the dashboard exited before it answered")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the dashboard did not answer")


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for width, height in SIZES:
            for name, query in VIEWS.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.route("**/*", lambda route: route.continue_()
                           if route.request.url.startswith(url) else route.abort())  # fmt: skip
                page.goto(f"{url}/?{query}", wait_until="domcontentloaded")
                frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
                frame.locator(".leaflet-overlay-pane path, .leaflet-overlay-pane canvas").first \
                    .wait_for(state="attached", timeout=120_000)  # fmt: skip
                page.wait_for_timeout(3000)  # the last redraw, and fonts
                target = out / f"{name}-{width}x{height}.jpg"
                page.screenshot(path=str(target), type="jpeg", quality=60)
                written.append(target)
                page.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--store", type=Path, help="store to show (default: the demo)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = ["--tiles", "none", *(["--store", str(args.store)] if args.store else [])]
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "streamlit"), "run", "server.py",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--", *app],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        for path in shoot(url, args.out):
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1024:.0f} KB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
