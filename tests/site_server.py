"""Serve a published site with Debian's nginx (scripts/serve-site), for tests and benches.

    with serve_site(site) as url:   # "http://127.0.0.1:PORT"
        ...

Without nginx the caller is skipped with the reason (pytest), or fails under ``CI=true``;
a bench passes ``on_missing`` to stop with a message instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
SERVE_SITE = ROOT / "scripts" / "serve-site"
# As tests/conftest.py's IN_CI (not imported from there: benches use this module too).
IN_CI = os.environ.get("CI", "").lower() == "true"
MISSING = "needs Debian's nginx (apt-get install nginx; scripts/test installs it)"


def nginx_binary() -> str | None:
    """The nginx executable (``/usr/sbin`` is often not on a user's PATH), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def skip_without_nginx(message: str = MISSING) -> NoReturn:
    """Skip the running test (fail it under ``CI=true``, where nginx must be installed)."""
    import pytest

    if IN_CI:
        pytest.fail(message + "; CI must run the site tests")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_site(
    site: Path,
    *,
    run_dir: Path | None = None,
    on_missing: Callable[[str], NoReturn] = skip_without_nginx,
    timeout_s: float = 20.0,
) -> Iterator[str]:
    """``scripts/serve-site SITE PORT --foreground`` on a free local port: its base URL (no
    trailing slash) once it answers; nginx is stopped on the way out.

    ``run_dir`` keeps nginx's config and logs (access.log, error.log) for a look afterwards;
    by default they go to a temporary folder removed at the end.
    """
    if nginx_binary() is None:
        on_missing(MISSING)
    with contextlib.ExitStack() as stack:
        if run_dir is None:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nginx_")))
        run_dir.mkdir(parents=True, exist_ok=True)
        # Another process may take the free port before nginx binds it: try a few.
        for attempt in range(5):
            port = free_port()
            proc = _start(site, port, run_dir)
            url = f"http://127.0.0.1:{port}"
            try:
                answering = _wait_answering(url, proc, timeout_s)
            except BaseException:
                _stop(proc)
                raise
            if answering:
                break
            log = _tail(run_dir / "error.log") + _tail(run_dir / "serve-site.log")
            _stop(proc)
            if "Address already in use" not in log or attempt == 4:
                raise RuntimeError(f"nginx did not serve {site} on port {port}:\n{log}")
        try:
            yield url
        finally:
            _stop(proc)


def _start(site: Path, port: int, run_dir: Path) -> subprocess.Popen:
    with open(run_dir / "serve-site.log", "w") as log:
        # The script execs nginx in the foreground: this process is nginx's master.
        return subprocess.Popen(
            [str(SERVE_SITE), str(site), str(port), "--foreground", "--run-dir", str(run_dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _wait_answering(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    """Poll ``url``/manifest.json until nginx serves it (True) or exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/manifest.json", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"nginx answered {err.code} for {url}/manifest.json") from err
        except OSError:
            time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to nginx's master (a fast shutdown), SIGKILL to its group if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""
