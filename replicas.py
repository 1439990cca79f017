"""Several dashboard processes behind Debian's nginx, for more cores and more machines.

    scripts/serve --replicas N [--port P] [--address A] [--run-dir DIR]
                  [--first-replica-port Q] [--remote HOST:PORT ...] [--] [dashboard options]

Streamlit serves every session of a process on one core, and a session, a sign-in ticket
(:mod:`gate`) and a download link live in the process that made them. So N processes
(replicas ``r1`` .. ``rN``, each ``streamlit run server.py`` on 127.0.0.1) sit behind one
nginx, and every browser stays on one of them:

- a browser without a ``replica`` cookie is sent round robin (the first to ``r1``, the next
  to ``r2``, ...); nginx then sets ``replica=<name>`` naming the replica that answered, and
  sends every later request carrying it (page, websocket, static files, ``/auth/bind``,
  ``/download/<token>``) to that replica. The cookie only selects among the configured
  replicas (a whitelist map); an unknown value is treated as no cookie.
- a replica that does not answer is skipped: a new browser goes to the next one, and a
  browser pinned to it goes to the others (its ``backup`` servers) and is pinned again to
  whichever answered. Its Streamlit session and sign-in stayed in the replica it left, so
  the page starts a new session there (and asks a signed-in viewer to sign in again).
- ``X-Replica`` on every response names the replica that served it.

Every replica gets the same ``server.cookieSecret``: the one configured (environment,
``.streamlit/config.toml`` or ``[auth] cookie_secret`` in ``.streamlit/secrets.toml``), or
one made for this run and handed over in the environment (never on a command line, where
``ps`` shows it).

nginx's config, pid file, logs and temporary files go to a run folder (``--run-dir``, or a
temporary folder removed at the end), with the replicas' logs (``r1.log``, ...) and
``replicas.json`` (each replica's name, port and process id). nginx runs in the foreground
as this process's child, so no root is needed. SIGTERM or SIGINT stops nginx, then the
replicas. If a replica exits on its own, everything is stopped and the exit code is 1, with
the end of that replica's log: a supervisor (systemd's ``Restart=on-failure``) then starts
the whole set again.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# Streamlit's own default for server.maxUploadSize, in MB.
STREAMLIT_UPLOAD_MB = 200
# The replica cookie lasts as long as a sign-in (gate.TICKET_S), so a browser restarted
# within a working day comes back to the replica that holds its ticket.
PIN_S = 12 * 3600
# A websocket stays open for a whole meeting; Streamlit pings it every few seconds anyway.
STREAM_TIMEOUT = "1d"
SECRET_ENV = "STREAMLIT_SERVER_COOKIE_SECRET"
NAME = re.compile(r"^[a-z][a-z0-9]*$")


@dataclass(frozen=True)
class Replica:
    """One dashboard process nginx sends browsers to: ``name`` is the value of their
    ``replica`` cookie, ``host`` an IP address (nginx reports the replica that answered by
    address, so a host name could not be matched)."""

    name: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"replica name {self.name!r} must be lower-case letters and digits")
        ipaddress.ip_address(self.host)  # ValueError for a host name
        if not 0 < self.port < 65536:
            raise ValueError(f"replica port {self.port} must be from 1 to 65535")

    @property
    def address(self) -> str:
        """``host:port`` as nginx writes it (an IPv6 host in brackets)."""
        version = ipaddress.ip_address(self.host).version
        return f"[{self.host}]:{self.port}" if version == 6 else f"{self.host}:{self.port}"


def nginx_config(
    replicas: Sequence[Replica],
    *,
    listen: str = "0.0.0.0:8501",
    max_body_mb: int = STREAMLIT_UPLOAD_MB,
    worker_user: str | None = None,
    run_dir: Path | None = None,
) -> str:
    """A complete nginx config serving ``replicas`` on ``listen`` with sticky sessions.

    Parameters
    ----------
    replicas
        The dashboard processes, in round-robin order (the first new browser goes to the
        first).
    listen
        nginx's ``listen`` value: ``ADDRESS:PORT`` or ``PORT``.
    max_body_mb
        Streamlit's ``server.maxUploadSize``; the request limit leaves 1 MB more for the
        multipart form around the file.
    worker_user
        ``user`` directive (``"www-data www-data"``) for a master started as root; None
        when nginx runs as an ordinary user (its workers stay that user).
    run_dir
        Where the pid file, logs and temporary files go (nginx's ``-p`` prefix when None:
        relative paths).
    """
    if not replicas:
        raise ValueError("`replicas` must name at least one replica")
    names = [r.name for r in replicas]
    if len(set(names)) != len(names) or len({r.address for r in replicas}) != len(replicas):
        raise ValueError(f"replica names and addresses must be unique: {replicas}")
    where = "" if run_dir is None else f"{run_dir}/"
    user = f"user {worker_user};\n" if worker_user else ""
    everyone = "".join(
        f"        server {r.address} max_fails=1 fail_timeout=10s;\n" for r in replicas
    )
    pinned = "".join(_pinned_upstream(r, replicas) for r in replicas)
    by_cookie = "".join(f"        {r.name} replica_{r.name};\n" for r in replicas)
    by_address = "".join(f'        "~(^|\\s){re.escape(r.address)}$" {r.name};\n' for r in replicas)
    attributes = f"Path=/; Max-Age={PIN_S}; HttpOnly; SameSite=Lax"
    return f"""\
# Written by scripts/serve (replicas.py): {len(replicas)} dashboard replicas behind nginx.
{user}daemon off;
worker_processes auto;
pid {where}nginx.pid;
error_log {where}error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    server_tokens off;
    client_body_temp_path {where}temp/client_body;
    proxy_temp_path {where}temp/proxy;
    fastcgi_temp_path {where}temp/fastcgi;
    uwsgi_temp_path {where}temp/uwsgi;
    scgi_temp_path {where}temp/scgi;
    log_format replicas '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                        '$request_time replica=$replica_served upstream=$upstream_addr';
    access_log {where}access.log replicas;

    # WebSocket: pass the browser's Upgrade on; other requests keep the upstream connection.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" "";
    }}

    # Sticky sessions. The browser's replica cookie picks one of these upstreams and nothing
    # else (never an address from the request); without it, or with an unknown value, the
    # browser goes round robin.
    map $cookie_replica $replica_upstream {{
        default replicas;
{by_cookie}    }}

    # The replica that answered: the last address nginx tried (it tries the next one when a
    # replica does not answer).
    map $upstream_addr $replica_served {{
        default "";
{by_address}    }}

    # https when this nginx terminates TLS, or when a TLS proxy in front of it says so (a
    # client claiming https only gets Secure cookies its plain-http page cannot use).
    map $http_x_forwarded_proto $forwarded_proto {{
        https https;
        default $scheme;
    }}

    map $forwarded_proto $replica_cookie_secure {{
        https "; Secure";
        default "";
    }}

    map $replica_served $replica_cookie {{
        "" "";
        default "replica=$replica_served; {attributes}$replica_cookie_secure";
    }}

    # New browsers, round robin (the zone shares the turn between nginx's workers).
    upstream replicas {{
        zone replicas 64k;
{everyone}        keepalive 32;
    }}

    # Browsers pinned to one replica; the others stand in while it does not answer.
{pinned}
    server {{
        listen {listen};
        server_name _;

        # Streamlit's upload limit, plus the multipart form around the file.
        client_max_body_size {max_body_mb + 1}m;
        # Uploads and downloads stream through, never to a temporary file.
        proxy_request_buffering off;
        proxy_max_temp_file_size 0;

        proxy_http_version 1.1;
        # $http_host keeps the port: Streamlit and the sign-in route compare it with the
        # page's Origin.
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $forwarded_proto;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_connect_timeout 5s;
        proxy_next_upstream error timeout;

        add_header X-Replica $replica_served always;
        add_header Set-Cookie $replica_cookie always;

        # The page's websocket: open for the whole meeting, every message passed at once.
        location /_stcore/stream {{
            proxy_pass http://$replica_upstream;
            proxy_read_timeout {STREAM_TIMEOUT};
            proxy_send_timeout {STREAM_TIMEOUT};
            proxy_buffering off;
        }}

        # The page, static files, components, health, /auth/bind and /download/<token>.
        location / {{
            proxy_pass http://$replica_upstream;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def _pinned_upstream(replica: Replica, replicas: Sequence[Replica]) -> str:
    others = "".join(
        f"        server {r.address} backup;\n" for r in replicas if r.name != replica.name
    )
    return (
        f"    upstream replica_{replica.name} {{\n"
        f"        server {replica.address} max_fails=1 fail_timeout=10s;\n"
        f"{others}        keepalive 8;\n"
        "    }\n"
    )


def upload_limit_mb(root: Path = ROOT) -> int:
    """``server.maxUploadSize`` of the app's ``.streamlit/config.toml`` (Streamlit's 200 MB
    when the file does not set it)."""
    config = _streamlit_config(root)
    return int(config.get("server", {}).get("maxUploadSize", STREAMLIT_UPLOAD_MB))


def configured_secret(root: Path = ROOT, environ: dict[str, str] | None = None) -> bool:
    """Whether every replica already reads one cookie secret: from the environment,
    ``.streamlit/config.toml`` or ``[auth]`` of ``.streamlit/secrets.toml``."""
    environ = os.environ if environ is None else environ
    if environ.get(SECRET_ENV):
        return True
    if _streamlit_config(root).get("server", {}).get("cookieSecret"):
        return True
    secrets_file = root / ".streamlit" / "secrets.toml"
    if secrets_file.exists():
        with secrets_file.open("rb") as f:
            return bool(tomllib.load(f).get("auth", {}).get("cookie_secret"))
    return False


def _streamlit_config(root: Path) -> dict:
    path = root / ".streamlit" / "config.toml"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        return tomllib.load(f)


# -- command line ---------------------------------------------------------------------------


SERVE_OPTIONS = {"--replicas", "--port", "--address", "--run-dir", "--first-replica-port",
                 "--remote"}  # fmt: skip


def split_arguments(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(serve's own options, the dashboard's), as scripts/dashboard splits them: serve's
    options (``--port 8600`` or ``--port=8600``) anywhere, everything after ``--`` and every
    other argument to the dashboard."""
    own: list[str] = []
    app: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            app += args
            break
        name = arg.split("=", 1)[0]
        if arg in ("-h", "--help"):
            own.append(arg)
        elif name in SERVE_OPTIONS:
            own.append(arg)
            if "=" not in arg and args:
                own.append(args.pop(0))
        else:
            app.append(arg)
    return own, app


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/serve",
        description="Run N dashboard replicas behind Debian's nginx, with sticky sessions. "
        "Every other argument (or everything after --) goes to the dashboard.",
        allow_abbrev=False,
    )
    p.add_argument("--replicas", type=int, required=True, help="processes on this machine")
    p.add_argument("--port", type=int, default=8501, help="nginx's port (default 8501)")
    p.add_argument(
        "--address", default="0.0.0.0", help="nginx's address (default: all; 127.0.0.1: "
        "this machine only)"
    )  # fmt: skip
    p.add_argument(
        "--run-dir", type=Path, help="keep nginx's config, logs and the replicas' logs here "
        "(default: a temporary folder, removed at the end)"
    )  # fmt: skip
    p.add_argument(
        "--first-replica-port", type=int, default=None, help="replicas listen on 127.0.0.1 "
        "from this port up (default: the port after --port; 0: any free ports)"
    )  # fmt: skip
    p.add_argument(
        "--remote", action="append", default=[], metavar="IP:PORT",
        help="a replica another machine runs (repeatable): it joins the round robin after "
        "this machine's",
    )  # fmt: skip
    return p


def local_replicas(count: int, first_port: int) -> list[Replica]:
    """``r1`` .. ``rN`` on 127.0.0.1 from ``first_port`` up (0: free ports the system picks)."""
    if first_port:
        ports = list(range(first_port, first_port + count))
    else:
        with contextlib.ExitStack() as stack:
            held = [stack.enter_context(socket.socket()) for _ in range(count)]
            for sock in held:
                sock.bind(("127.0.0.1", 0))
            ports = [sock.getsockname()[1] for sock in held]
    return [Replica(f"r{i}", "127.0.0.1", port) for i, port in enumerate(ports, start=1)]


def remote_replicas(addresses: Sequence[str], *, after: int) -> list[Replica]:
    """``--remote IP:PORT`` values as replicas named on from ``r<after + 1>``."""
    found = []
    for i, value in enumerate(addresses, start=after + 1):
        host, sep, port = value.rpartition(":")
        host = host.strip("[]")
        try:
            if not sep or not port.isdigit():
                raise ValueError
            found.append(Replica(f"r{i}", host, int(port)))
        except ValueError:
            raise SystemExit(
                f"scripts/serve: --remote {value!r} must be IP:PORT, e.g. 10.0.0.12:8501 "
                "(an IP address: nginx names the replica that answered by its address)"
            ) from None
    return found


# -- processes ------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                      else None)  # fmt: skip
    if found is None:
        raise SystemExit("scripts/serve: nginx is not installed (apt-get install nginx)")
    return found


def worker_user() -> str | None:
    """Who nginx's workers run as when it is started as root (never root itself): Debian's
    ``www-data``, else ``nobody``; None for an ordinary user."""
    if os.geteuid() != 0:
        return None
    import grp
    import pwd

    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return f"{name} {grp.getgrgid(entry.pw_gid).gr_name}"
    return None


def start_replica(replica: Replica, app_args: Sequence[str], log: Path,
                  env: dict[str, str]) -> subprocess.Popen:  # fmt: skip
    """``streamlit run server.py`` for one replica, in a process group of its own (a Ctrl-C
    reaches serve, which stops nginx first)."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"),
        "--server.port", str(replica.port), "--server.address", replica.host,
        "--server.headless", "true",
        # A service: no watching the source files for edits, in every replica.
        "--server.fileWatcherType", "none",
        "--", *app_args,
    ]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)  # fmt: skip


def require_free_port(address: str, port: int, what: str) -> None:
    """SystemExit naming ``what`` when something already listens on ``address:port``."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as err:
            raise SystemExit(
                f"scripts/serve: {what} cannot listen on {address}:{port} ({err.strerror}): "
                "another server has it; choose another port"
            ) from None


def healthy(replica: Replica, timeout_s: float = 2.0) -> bool:
    try:
        url = f"http://{replica.address}/_stcore/health"
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            return reply.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
    """``sig`` to a child's process group, SIGKILL if it is still there after ``timeout_s``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def say(message: str) -> None:
    print(f"serve: {message}", flush=True)


class Serve:
    """The replicas and nginx of one run, started and stopped together."""

    def __init__(self, replicas: list[Replica], remote: list[Replica], app_args: list[str],
                 run_dir: Path, listen: str) -> None:  # fmt: skip
        self.replicas, self.remote, self.app_args = replicas, remote, app_args
        self.run_dir, self.listen = run_dir, listen
        self.procs: dict[str, subprocess.Popen] = {}
        self.nginx: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def write_config(self) -> Path:
        conf = self.run_dir / "nginx.conf"
        (self.run_dir / "temp").mkdir(exist_ok=True)
        text = nginx_config(
            [*self.replicas, *self.remote], listen=self.listen, max_body_mb=upload_limit_mb(),
            worker_user=worker_user(), run_dir=self.run_dir,
        )  # fmt: skip
        conf.write_text(text)
        check = subprocess.run(self._nginx_command("-t", "-q"), capture_output=True, text=True)
        if check.returncode:
            raise SystemExit(f"scripts/serve: nginx rejected {conf}:\n{check.stderr}")
        return conf

    def _nginx_command(self, *extra: str) -> list[str]:
        conf, error_log = self.run_dir / "nginx.conf", self.run_dir / "error.log"
        return [nginx_binary(), *extra, "-p", str(self.run_dir), "-c", str(conf),
                "-e", str(error_log)]  # fmt: skip

    def start_replicas(self) -> None:
        env = dict(os.environ)
        if not configured_secret():
            env[SECRET_ENV] = secrets.token_urlsafe(32)
        for replica in self.replicas:
            log = self.run_dir / f"{replica.name}.log"
            self.procs[replica.name] = start_replica(replica, self.app_args, log, env)
        self._record()

    def _record(self) -> None:
        state = {
            "replicas": {r.name: {"port": r.port, "pid": self.procs[r.name].pid,
                                  "log": str(self.run_dir / f"{r.name}.log")}
                         for r in self.replicas},
            "remote": {r.name: r.address for r in self.remote},
            "nginx_pid": self.nginx.pid if self.nginx else None,
        }  # fmt: skip
        (self.run_dir / "replicas.json").write_text(json.dumps(state, indent=1))

    def dead(self) -> str | None:
        """The first local replica that has exited, or None."""
        return next((n for n, p in self.procs.items() if p.poll() is not None), None)

    def wait_healthy(self, timeout_s: float = 180.0) -> None:
        """Until every local replica answers ``/_stcore/health`` (SystemExit if one exits,
        does not answer in time, or a stop is asked for)."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self.replicas)
        while waiting:
            if self.stopping.is_set():
                raise SystemExit(0)
            if (name := self.dead()) is not None:
                self.fail(f"replica {name} exited while starting", name)
            if time.monotonic() > deadline:
                late = waiting[0].name
                self.fail(f"replica {late} did not answer in {timeout_s:g} s", late)
            waiting = [r for r in waiting if not healthy(r)]
            if waiting:
                self.stopping.wait(0.5)
        for replica in self.remote:
            state = "answers" if healthy(replica) else "does NOT answer yet"
            say(f"remote replica {replica.name} at {replica.address} {state}")

    def start_nginx(self, port: int, timeout_s: float = 30.0) -> None:
        log = open(self.run_dir / "nginx.out", "ab")  # noqa: SIM115 (the child holds it)
        self.nginx = subprocess.Popen(self._nginx_command(), stdout=log, stderr=log,
                                      start_new_session=True)  # fmt: skip
        log.close()
        self._record()
        host = self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"
        if host in ("0.0.0.0", "::", "*"):
            host = "127.0.0.1"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                self.fail("nginx exited: " + tail(self.run_dir / "error.log"))
            with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
                return
            self.stopping.wait(0.2)
        self.fail(f"nginx did not listen on {self.listen} in {timeout_s:g} s")

    def fail(self, message: str, replica: str | None = None) -> None:
        """Say what went wrong (with the end of ``replica``'s log) and stop the run (1)."""
        say(message)
        if replica is not None:
            log = self.run_dir / f"{replica}.log"
            say(f"the end of {replica}'s log ({log}):\n{tail(log)}")
        raise SystemExit(1)

    def supervise(self) -> int:
        """Until a stop is asked for (0) or a replica or nginx exits (1)."""
        while not self.stopping.wait(0.5):
            if (name := self.dead()) is not None:
                code = self.procs[name].returncode
                self.fail(f"replica {name} (pid {self.procs[name].pid}) exited with code "
                          f"{code}; stopping nginx and the other replicas", name)  # fmt: skip
            if self.nginx is not None and self.nginx.poll() is not None:
                self.fail("nginx exited: " + tail(self.run_dir / "error.log"))
        return 0

    def shutdown(self) -> None:
        """nginx first (no new requests), then every replica."""
        if self.nginx is not None:
            stop(self.nginx, signal.SIGTERM, timeout_s=10)
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            stop(proc)


def main(argv: Sequence[str] | None = None) -> int:
    own, app_args = split_arguments(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(own)
    if args.replicas < 1:
        raise SystemExit("scripts/serve: --replicas must be 1 or more")
    first = args.port + 1 if args.first_replica_port is None else args.first_replica_port
    replicas = local_replicas(args.replicas, first)
    remote = remote_replicas(args.remote, after=len(replicas))
    if remote and not configured_secret():
        raise SystemExit(
            "scripts/serve: replicas on other machines need the same cookie secret as these: "
            f"set {SECRET_ENV} (or server.cookieSecret in .streamlit/config.toml) to one long "
            "random value on every machine"
        )
    address = args.address.strip("[]")
    listen = f"[{address}]:{args.port}" if ":" in address else f"{address}:{args.port}"
    require_free_port(address, args.port, "nginx (--port)")
    for replica in replicas:
        require_free_port(replica.host, replica.port, f"replica {replica.name}")
    made = args.run_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="serve-")) if made else args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if worker_user() is not None:  # nginx's workers reach their temporary files in it
        run_dir.chmod(0o711)
    serve = Serve(replicas, remote, app_args, run_dir, listen)

    def on_signal(signum: int, _frame: object) -> None:
        serve.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        serve.write_config()
        serve.start_replicas()
        for replica in replicas:
            say(f"replica {replica.name}: 127.0.0.1:{replica.port}, "
                f"pid {serve.procs[replica.name].pid}")  # fmt: skip
        serve.wait_healthy()
        serve.start_nginx(args.port)
        shown = "127.0.0.1" if address in ("0.0.0.0", "::") else args.address
        say(f"{len(replicas) + len(remote)} replicas behind nginx at http://{shown}:{args.port}/"
            f" (run folder {run_dir}; Ctrl-C stops)")  # fmt: skip
        code = serve.supervise()
        say("stopping")
        return code
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr, flush=True)
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        serve.shutdown()
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
