"""Who may see what: roles, viewers, the access configuration and local sign-in.

Three roles, from the issue the safety cluster agreed on:

- ``analyst``: every incident at point level, hotspot and incident exports;
- ``agency``: point-level data of their own agency (``agency:SAPS``), every other agency's
  incidents aggregated as for the public;
- ``public`` (CPFs, neighbourhood watches, the public): the published monthly site only
  (:mod:`layers.publishing.public`).

What "aggregated" means is :mod:`layers.access.sight`'s business; this module decides who the
viewer is. A deployment names its sign-in in an access file (TOML)::

    [sign_in]
    users = "users.toml"        # local users with argon2id password hashes
    oidc = "default"            # and/or Streamlit's st.login: "default" or a provider name
    audit_log = "audit.jsonl"   # who signed in, who exported what
    throttle = "sign_in_throttle.sqlite"  # failed sign-ins (see layers.access.throttle); default
    trusted_proxies = ["127.0.0.1"]       # nginx in front: read X-Forwarded-For from it

    [oidc_users]                # identities the provider vouches for, and their role
    "thandi@capetown.gov.za" = "analyst"
    "station.commander@saps.gov.za" = "agency:SAPS"

    [privacy]                   # see layers.access.policy.PrivacyRules
    k = 3

Paths are relative to the access file. Without an access file the dashboard runs open, as
the demo does, and says so on the page.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from layers.access.policy import AccessError, PrivacyRules, Viewer, parse_role
from layers.storage.store import write_text_atomic

MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()  # argon2id, 64 MiB, 3 passes: about 0.15 s a check here


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so a wrong name costs as long as a
    wrong password and timing does not tell which names exist. Made on first use."""
    return _HASHER.hash("not a password of anyone's")


@dataclass(frozen=True)
class LocalUser:
    """One entry of a local users file."""

    name: str
    viewer: Viewer
    password_hash: str


@dataclass(frozen=True)
class AccessConfig:
    """A deployment's sign-in and privacy settings (see the module docstring).

    Attributes
    ----------
    users_file : Path, optional
        Local users with password hashes.
    oidc : str, optional
        Streamlit ``st.login`` provider: ``"default"`` for the ``[auth]`` section of
        ``.streamlit/secrets.toml``, or the name of an ``[auth.NAME]`` provider.
    oidc_users : mapping of str to Viewer
        Case-folded e-mail to viewer, for identities from the provider.
    audit_log : Path, optional
        Append-only log of sign-ins and exports.
    throttle : Path, optional
        The SQLite file failed sign-ins are counted in (see :mod:`layers.access.throttle`); by
        default ``sign_in_throttle.sqlite`` beside the access file.
    trusted_proxies : tuple of str
        Addresses of reverse proxies (nginx) whose ``X-Forwarded-For`` names the client; a
        client's own claim is never read otherwise.
    privacy : PrivacyRules
    """

    users_file: Path | None = None
    oidc: str | None = None
    oidc_users: Mapping[str, Viewer] = field(default_factory=dict)
    audit_log: Path | None = None
    throttle: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    privacy: PrivacyRules = field(default_factory=PrivacyRules)

    @property
    def sign_in_required(self) -> bool:
        """True when a sign-in method is configured: anonymous viewers are then refused."""
        return self.users_file is not None or self.oidc is not None

    def oidc_viewer(self, email: str | None) -> Viewer | None:
        """The viewer an identity provider's e-mail maps to; None when it is not listed."""
        if not email:
            return None
        return self.oidc_users.get(email.strip().casefold())


def load_access(path: Path | str) -> AccessConfig:
    """Read an access file (TOML); every mistake is reported with how to fix it."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccessError(f"No access file at {path}: check the --access path.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise AccessError(f"{path} is not valid TOML: {err}.") from None
    unknown = set(raw) - {"sign_in", "oidc_users", "privacy"}
    if unknown:
        raise AccessError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected [sign_in], [oidc_users] and [privacy]."
        )
    sign_in = _table(raw, "sign_in", path)
    unknown = set(sign_in) - {"users", "oidc", "audit_log", "throttle", "trusted_proxies"}
    if unknown:
        raise AccessError(
            f"{path} [sign_in]: unknown key(s) {', '.join(sorted(unknown))}; "
            "expected users, oidc, audit_log, throttle and trusted_proxies."
        )
    proxies = sign_in.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise AccessError(
            f'{path} [sign_in] trusted_proxies must be a list of addresses, e.g. ["127.0.0.1"].'
        )

    def relative(key: str) -> Path | None:
        value = sign_in.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise AccessError(f"{path} [sign_in] {key} must be a file path.")
        return (path.parent / value).resolve()

    oidc = sign_in.get("oidc")
    if oidc is not None and (not isinstance(oidc, str) or not oidc.strip()):
        raise AccessError(
            f'{path} [sign_in] oidc must be "default" or the name of an [auth.NAME] provider '
            "in .streamlit/secrets.toml."
        )
    people = {}
    for email, role in _table(raw, "oidc_users", path).items():
        if not isinstance(role, str):
            raise AccessError(f'{path} [oidc_users] "{email}" must be a role such as "public".')
        try:
            people[email.strip().casefold()] = parse_role(role, name=email.strip())
        except AccessError as err:
            raise AccessError(f'{path} [oidc_users] "{email}": {err}') from None
    try:
        privacy = PrivacyRules.from_mapping(_table(raw, "privacy", path))
    except ValueError as err:
        raise AccessError(f"{path} [privacy]: {err}") from None
    return AccessConfig(
        users_file=relative("users"),
        oidc=oidc.strip() if oidc else None,
        oidc_users=people,
        audit_log=relative("audit_log"),
        throttle=relative("throttle") or (path.parent / "sign_in_throttle.sqlite").resolve(),
        trusted_proxies=tuple(p.strip() for p in proxies),
        privacy=privacy,
    )


def _table(raw: dict, key: str, path: Path) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise AccessError(f"{path}: [{key}] must be a table.")
    return value


def load_users(path: Path | str) -> dict[str, LocalUser]:
    """Read a local users file: ``[users.NAME]`` tables with ``role`` and ``password``."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccessError(
            f"No users file at {path}: add a user with `python -m layers users set NAME "
            f"--role ROLE --users {path}`."
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise AccessError(f"{path} is not valid TOML: {err}.") from None
    users = {}
    for name, entry in _table(raw, "users", path).items():
        if not isinstance(entry, dict) or not {"role", "password"} <= set(entry):
            raise AccessError(f'{path}: [users."{name}"] needs a role and a password hash.')
        if not str(entry["password"]).startswith("$argon2"):
            raise AccessError(
                f'{path}: the password of "{name}" is not an argon2 hash. Never store a '
                "password itself: set it with `python -m layers users set`."
            )
        try:
            viewer = parse_role(entry["role"], name=name)
        except AccessError as err:
            raise AccessError(f'{path}: [users."{name}"]: {err}') from None
        users[name] = LocalUser(name=name, viewer=viewer, password_hash=str(entry["password"]))
    return users


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; about 0.15 s to compute or check)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return _HASHER.hash(password)


def authenticate(users: Mapping[str, LocalUser], name: str, password: str) -> Viewer | None:
    """The viewer for a correct user name and password; None otherwise.

    An unknown name is checked against a dummy hash, so it takes as long as a wrong password.
    """
    user = users.get(name.strip())
    try:
        _HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    return user.viewer if user else None


def set_user(path: Path | str, name: str, password: str, role: str) -> Viewer:
    """Add or replace a user in a local users file, written atomically (mode 0600)."""
    name = name.strip()
    if not 0 < len(name) <= 200 or not name.isprintable() or any(c in name for c in '"\\'):
        raise AccessError(
            "A user name must be 1-200 printable characters without quotes or backslashes."
        )
    viewer = parse_role(role, name=name)
    path = Path(path)
    users = load_users(path) if path.exists() else {}
    users[name] = LocalUser(name=name, viewer=viewer, password_hash=hash_password(password))
    lines = [
        "# Dashboard users: argon2id hashes, never passwords. Edit with `python -m layers users`.",
        "",
    ]
    for user in users.values():
        lines += [
            f"[users.{json.dumps(user.name, ensure_ascii=False)}]",
            f"role = {json.dumps(user.viewer.label, ensure_ascii=False)}",
            f"password = {json.dumps(user.password_hash)}",
            "",
        ]
    write_text_atomic(path, "\n".join(lines))
    os.chmod(path, 0o600)
    return viewer
