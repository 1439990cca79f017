"""Replicas behind nginx (replicas.py, scripts/serve): the config nginx accepts, sticky
routing and failover against two tiny backends, and the dashboard served by two replicas to
two browsers that both follow the live store."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT
from site_server import free_port, nginx_binary, skip_without_nginx
from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser

import replicas
from layers.storage.demo import generate_demo

SERVE = ROOT / "scripts" / "serve"
REFRESH_S = 3
# On top of one refresh: a loaded 2-core machine running two replicas and a browser.
MARGIN_S = 12
# The "Incidents" metric by its label (the first stMetricValue can briefly be another metric
# while Streamlit swaps elements), as bench/live_load.py reads it.
INCIDENTS_JS = """() => {
  const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .filter((e) => e.querySelector('[data-testid="stMetricLabel"]')?.textContent.trim()
      === "Incidents")
    .map((e) => e.querySelector('[data-testid="stMetricValue"]'))[0];
  const n = m ? Number(m.textContent.trim().replace(/,/g, "")) : NaN;
  return Number.isFinite(n) ? n : null;
}"""


def _require_nginx() -> str:
    found = nginx_binary()
    if found is None:
        skip_without_nginx()
    return found


# --- the config ----------------------------------------------------------------------------


def _two(first: int = 8601) -> list[replicas.Replica]:
    return replicas.local_replicas(2, first)


def test_config_is_accepted_by_nginx(tmp_path):
    nginx = _require_nginx()
    (tmp_path / "temp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        replicas.nginx_config(
            [*_two(), replicas.Replica("r3", "10.0.0.12", 8501)],
            listen="127.0.0.1:8600",
            worker_user=replicas.worker_user(),
            run_dir=tmp_path,
        )
    )
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def test_config_pins_by_a_whitelist_and_proxies_websockets():
    text = replicas.nginx_config(_two(), listen="8600", max_body_mb=replicas.upload_limit_mb())
    # The cookie selects among named upstreams only; nothing else of the request is proxied to.
    sticky = re.search(r"map \$cookie_replica \$replica_upstream \{(.*?)\}", text, re.S)
    assert sticky and sticky.group(1).split() == [
        "default",
        "replicas;",
        "r1",
        "replica_r1;",
        "r2",
        "replica_r2;",
    ]
    assert text.count("$cookie_replica") == 1
    assert set(re.findall(r"proxy_pass (\S+);", text)) == {"http://$replica_upstream"}
    # A pinned replica's upstream falls back to the other; new browsers go round robin.
    assert re.search(
        r"upstream replica_r2 \{\s*server 127\.0\.0\.1:8602 [^;]*;"
        r"\s*server 127\.0\.0\.1:8601 backup;",
        text,
    )
    assert re.search(r"upstream replicas \{\s*zone[^;]*;\s*server 127\.0\.0\.1:8601", text)
    stream = re.search(r"location /_stcore/stream \{(.*?)\}", text, re.S).group(1)
    assert "proxy_buffering off;" in stream and "proxy_read_timeout 1d;" in stream
    assert "proxy_send_timeout 1d;" in stream
    for header in (
        "Upgrade $http_upgrade",
        "Connection $connection_upgrade",
        "Host $http_host",
        "X-Forwarded-For $proxy_add_x_forwarded_for",
        "X-Forwarded-Proto $forwarded_proto",
    ):
        assert f"proxy_set_header {header};" in text
    assert "proxy_http_version 1.1;" in text
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", text)
    # .streamlit/config.toml's maxUploadSize (200 MB) and 1 MB for the form around the file.
    assert replicas.upload_limit_mb() == 200
    assert "client_max_body_size 201m;" in text


def test_replicas_are_named_by_ip_address_and_unique():
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        replicas.Replica("r1", "dashboard.example.org", 8501)
    with pytest.raises(ValueError, match="unique"):
        replicas.nginx_config([*_two(), replicas.Replica("r3", "127.0.0.1", 8601)])
    assert replicas.Replica("r1", "::1", 8501).address == "[::1]:8501"
    with pytest.raises(SystemExit, match="must be IP:PORT"):
        replicas.remote_replicas(["dashboard.example.org"], after=2)


def test_serve_options_and_dashboard_options_are_split_as_scripts_dashboard_does():
    own, app = replicas.split_arguments(
        [
            "--replicas",
            "2",
            "--postgis",
            "URL",
            "--port=8600",
            "--refresh",
            "3",
            "--",
            "--port",
            "9",
        ]
    )
    assert own == ["--replicas", "2", "--port=8600"]
    assert app == ["--postgis", "URL", "--refresh", "3", "--port", "9"]


def test_replicas_on_other_machines_need_a_configured_secret(monkeypatch):
    monkeypatch.setattr(replicas, "configured_secret", lambda: False)
    with pytest.raises(SystemExit, match="STREAMLIT_SERVER_COOKIE_SECRET"):
        replicas.main(["--replicas", "1", "--remote", "10.0.0.12:8501"])


def test_a_configured_cookie_secret_is_kept(tmp_path):
    assert not replicas.configured_secret(tmp_path, {})
    assert replicas.configured_secret(tmp_path, {replicas.SECRET_ENV: "s"})
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\ncookie_secret = "x"\n')
    assert replicas.configured_secret(tmp_path, {})


# --- sticky routing, against two tiny backends ---------------------------------------------


# A backend in a process of its own (killing it closes nginx's kept-alive connections too):
# every request is answered with its name and the headers nginx sent.
ECHO = """
import http.server, json, sys

class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        if "content-length" in self.headers:
            self.rfile.read(int(self.headers["content-length"]))
        data = json.dumps({"name": sys.argv[1], "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def _backend(name: str) -> Iterator[tuple[int, subprocess.Popen]]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO, name], stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline()), proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


@contextlib.contextmanager
def _nginx(config: str, run_dir: Path, port: int) -> Iterator[str]:
    nginx = _require_nginx()
    (run_dir / "temp").mkdir(parents=True, exist_ok=True)
    (run_dir / "nginx.conf").write_text(config)
    proc = subprocess.Popen(
        [
            nginx,
            "-p",
            str(run_dir),
            "-c",
            str(run_dir / "nginx.conf"),
            "-e",
            str(run_dir / "error.log"),
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (run_dir / "error.log").read_text()
            with contextlib.suppress(OSError):
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()
                break
            assert time.monotonic() < deadline, "nginx did not listen in 30 s"
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        replicas.stop(proc)


def _get(
    host: str,
    path: str = "/",
    cookie: str | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], dict]:
    conn = http.client.HTTPConnection(host, timeout=10)
    sent = {**(headers or {}), **({"Cookie": f"replica={cookie}"} if cookie else {})}
    conn.request(method, path, body=b"{}" if method == "POST" else None, headers=sent)
    reply = conn.getresponse()
    body = json.loads(reply.read() or b"{}")
    conn.close()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, body


def test_nginx_pins_browsers_by_cookie_and_moves_them_off_a_dead_replica(tmp_path):
    _require_nginx()
    with _backend("one") as (p1, _), _backend("two") as (p2, second):
        pair = [replicas.Replica("r1", "127.0.0.1", p1), replicas.Replica("r2", "127.0.0.1", p2)]
        port = free_port()
        config = replicas.nginx_config(
            pair, listen=f"127.0.0.1:{port}", worker_user=replicas.worker_user(), run_dir=tmp_path
        )
        with _nginx(config, tmp_path, port) as host:
            # New browsers, round robin from the first, each told where it landed.
            fresh = [_get(host) for _ in range(4)]
            assert [h["x-replica"] for _, h, _ in fresh] == ["r1", "r2", "r1", "r2"]
            assert [b["name"] for _, _, b in fresh] == ["one", "two", "one", "two"]
            assert fresh[1][1]["set-cookie"] == (
                "replica=r2; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"
            )
            # A pinned browser: every path, the sign-in and download routes included.
            for path, method in [
                ("/", "GET"),
                ("/_stcore/health", "GET"),
                ("/static/js/main.js", "GET"),
                ("/auth/bind", "POST"),
                ("/download/abc", "GET"),
                ("/component/x/index.html", "GET"),
            ]:
                status, head, body = _get(host, path, cookie="r2", method=method)
                assert (status, head["x-replica"], body["name"]) == (200, "r2", "two"), path
            # What the replica is told about the browser and the websocket.
            _, _, body = _get(
                host,
                "/_stcore/stream",
                cookie="r1",
                headers={
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "X-Forwarded-For": "6.6.6.6",
                },
            )
            sent = body["headers"]
            assert (body["name"], sent["upgrade"], sent["connection"]) == (
                "one",
                "websocket",
                "upgrade",
            )
            assert sent["host"] == host  # with its port: Streamlit compares it with Origin
            assert sent["x-forwarded-for"] == "6.6.6.6, 127.0.0.1"
            assert sent["x-forwarded-proto"] == "http"
            # Behind a TLS proxy that says https: passed on, and the cookie is Secure.
            _, head, body = _get(host, cookie="r1", headers={"X-Forwarded-Proto": "https"})
            assert body["headers"]["x-forwarded-proto"] == "https"
            assert head["set-cookie"].endswith("; SameSite=Lax; Secure")
            _, _, plain = _get(host, "/", cookie="r1")
            assert "upgrade" not in plain["headers"]
            # A stale or forged cookie is no cookie: round robin, never the address it names.
            for forged in ["r9", "127.0.0.1:22", f"127.0.0.1:{p2}", "replicas"]:
                status, head, body = _get(host, cookie=forged)
                assert status == 200 and head["x-replica"] in ("r1", "r2"), forged
                assert body["name"] == {"r1": "one", "r2": "two"}[head["x-replica"]]
            # r2 goes away: its browsers are served by r1 and pinned to it; new ones too.
            second.kill()
            second.wait(timeout=10)
            status, head, body = _get(host, cookie="r2")
            assert (status, head["x-replica"], body["name"]) == (200, "r1", "one")
            assert head["set-cookie"].startswith("replica=r1;")
            assert [_get(host)[1]["x-replica"] for _ in range(3)] == ["r1"] * 3
        log = (tmp_path / "access.log").read_text()
        assert "replica=r1 upstream=127.0.0.1:" in log


# --- the dashboard, two replicas, two browsers -----------------------------------------------


@dataclass
class Served:
    url: str
    proc: subprocess.Popen
    output: Path
    run_dir: Path
    pids: dict[str, int]


@contextlib.contextmanager
def _serve(args: list[str], output: Path, timeout_s: float = 240) -> Iterator[Served]:
    """``scripts/serve ARGS`` on a free port: once it says where it serves. Stopped (SIGTERM)
    on the way out unless the test stopped it."""
    _require_nginx()
    port = free_port()
    with open(output, "w") as out:
        proc = subprocess.Popen(
            [
                str(SERVE),
                "--port",
                str(port),
                "--address",
                "127.0.0.1",
                "--first-replica-port",
                "0",
                *args,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while "behind nginx at" not in output.read_text():
            assert proc.poll() is None, f"scripts/serve exited:\n{output.read_text()[-4000:]}"
            assert time.monotonic() < deadline, (
                f"not serving in {timeout_s:g} s:\n" + (output.read_text()[-4000:])
            )
            time.sleep(0.2)
        text = output.read_text()
        run_dir = Path(re.search(r"run folder (\S+);", text).group(1))
        pids = {name: int(pid) for name, pid in re.findall(r"replica (r\d+): \S+, pid (\d+)", text)}
        pids["nginx"] = json.loads((run_dir / "replicas.json").read_text())["nginx_pid"]
        yield Served(f"http://127.0.0.1:{port}", proc, output, run_dir, pids)
    except BaseException:
        with contextlib.suppress(Exception):
            for log in sorted(Path(run_dir).glob("*.log")):  # what the replicas said
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone too (serve waits for its children, so none should be left).
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True


def _insert_one(url: str) -> None:
    """One incident written straight into the live table, as another system would (the
    trigger joins precinct and ward and stamps seq)."""
    from layers.livefeed.postgis import SCHEMA, connect

    with connect(url) as conn:
        row = conn.execute(
            f"SELECT agency, category, collaboration_area, lon, lat FROM {SCHEMA}.incidents "
            "WHERE precinct <> 'Outside boundaries' ORDER BY seq LIMIT 1"
        ).fetchone()
        conn.execute(
            f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, collaboration_area, "
            "occurred_at, lon, lat) VALUES (%s, 'REPLICA-TEST-1', %s, %s, now(), %s, %s)",
            (row[0], row[1], row[2], row[3], row[4]),
        )
        conn.commit()


def test_two_replicas_behind_nginx_both_follow_the_live_store(postgis_url, tmp_path):
    """Two browsers land on different replicas (round robin, then their cookie), and both
    show an incident inserted into the database within one refresh, in place."""
    from layers.livefeed.postgis import ingest_postgis

    sync_playwright = _require_browser()
    manifest = generate_demo(tmp_path / "files", incidents=1000)
    ingest_postgis(
        postgis_url,
        [manifest.incident_paths[0]],
        precincts=manifest.precincts_path,
        wards=manifest.wards_path,
        synthetic=True,
    )
    app = ["--", "--postgis", postgis_url, "--refresh", str(REFRESH_S), "--tiles", "none"]
    with (
        _serve(["--replicas", "2", *app], tmp_path / "serve.out") as served,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pages, landed = [], []
        for _ in range(2):  # two people: two cookie jars
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            reply = page.goto(served.url, wait_until="domcontentloaded")
            landed.append(reply.headers.get("x-replica"))
            pages.append(page)
        counts = []
        for page in pages:
            page.wait_for_function(INCIDENTS_JS, timeout=120_000, polling=200)
            page.evaluate("() => { window.__noReload = true; }")
            counts.append(page.evaluate(INCIDENTS_JS))
        cookies = [{c["name"]: c["value"] for c in p.context.cookies()}["replica"] for p in pages]
        assert counts[0] == counts[1] and counts[0] > 0, counts

        _insert_one(postgis_url)
        inserted = time.monotonic()
        expected = counts[0] + 1
        seen_after = []
        for page in pages:
            left_ms = max(1.0, inserted + REFRESH_S + MARGIN_S - time.monotonic()) * 1000
            page.wait_for_function(
                f"() => ({INCIDENTS_JS})() === {expected}", timeout=left_ms, polling=100
            )
            seen_after.append(time.monotonic() - inserted)
        no_reload = [p.evaluate("() => window.__noReload === true") for p in pages]
        errors = [
            p.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
            for p in pages
        ]
        # A reload stays on its replica (its cookie) and shows the same count.
        again = pages[0].reload(wait_until="domcontentloaded").headers.get("x-replica")
        pages[0].wait_for_function(f"() => ({INCIDENTS_JS})() === {expected}", timeout=120_000)
        browser.close()
        logs = {name: (served.run_dir / f"{name}.log").read_text() for name in ("r1", "r2")}
    assert landed == ["r1", "r2"] and cookies == ["r1", "r2"], (landed, cookies)
    assert no_reload == [True, True], "a page reloaded"
    assert errors == [0, 0], "an error or exception showed"
    assert again == "r1"
    assert all(t < REFRESH_S + MARGIN_S for t in seen_after), seen_after
    assert not [name for name, log in logs.items() if "Traceback" in log], logs
    # Stopped by SIGTERM: exit 0, nginx and both replicas gone, its run folder removed.
    assert served.proc.returncode == 0, served.output.read_text()[-3000:]
    assert all(_gone(pid) for pid in served.pids.values()), served.pids
    assert not served.run_dir.exists()


def test_serve_stops_everything_when_a_replica_dies(demo_store, tmp_path):
    """A replica that exits on its own stops the set (exit 1, saying which), so a supervisor
    can start it again; until then, requests carry the replica that served them."""
    import urllib.request

    app = ["--store", str(demo_store), "--tiles", "none"]
    with _serve(["--replicas", "2", *app], tmp_path / "serve.out") as served:
        with urllib.request.urlopen(served.url + "/_stcore/health", timeout=30) as reply:
            served_by, cookies = reply.headers["X-Replica"], reply.headers.get_all("Set-Cookie")
        os.kill(served.pids["r2"], signal.SIGKILL)
        served.proc.wait(timeout=60)
    output = served.output.read_text()
    assert served_by == "r1"
    assert [c for c in cookies if c.startswith("replica=")] == [
        "replica=r1; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"
    ]
    assert served.proc.returncode == 1, output
    assert re.search(r"replica r2 \(pid \d+\) exited with code -9", output), output
    assert all(_gone(pid) for pid in served.pids.values()), served.pids
    assert not served.run_dir.exists()
