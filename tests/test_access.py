"""Roles, the access file and local sign-in with argon2id password hashes."""

from __future__ import annotations

import stat

import pytest

from layers.access.policy import PrivacyRules
from layers.access.users import (
    AccessConfig,
    AccessError,
    Viewer,
    authenticate,
    load_access,
    load_users,
    parse_role,
    set_user,
)

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    ("text", "role", "agency"),
    [("analyst", "analyst", None), ("Public", "public", None),
     ("agency:SAPS", "agency", "SAPS"), ("agency: Metro Police ", "agency", "Metro Police")],
)  # fmt: skip
def test_roles_are_spelled_as_in_the_configuration(text, role, agency):
    viewer = parse_role(text)
    assert (viewer.role, viewer.agency) == (role, agency)
    assert parse_role(viewer.label) == viewer


@pytest.mark.parametrize("text", ["admin", "agency", "agency:", "public:SAPS", ""])
def test_an_unknown_role_says_what_the_roles_are(text):
    with pytest.raises(AccessError, match=r"analyst|agency"):
        parse_role(text)


def test_only_analysts_see_every_point_and_public_viewers_export_no_incidents():
    assert Viewer("a", "analyst").sees_all_points
    assert not Viewer("s", "agency", "SAPS").sees_all_points
    assert Viewer("s", "agency", "SAPS").may_export_incidents
    assert not Viewer("p", "public").may_export_incidents


def test_users_file_holds_salted_argon2_hashes_and_signs_in(tmp_path):
    users = tmp_path / "users.toml"
    set_user(users, "thandi", PASSWORD, "analyst")
    set_user(users, "station", PASSWORD, "agency:SAPS")
    text = users.read_text()
    assert PASSWORD not in text and text.count("$argon2id$") == 2
    loaded = load_users(users)
    assert loaded["thandi"].password_hash != loaded["station"].password_hash  # salted
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert authenticate(loaded, "station", PASSWORD) == Viewer("station", "agency", "SAPS")
    assert authenticate(loaded, "station", PASSWORD + "!") is None
    assert authenticate(loaded, "nobody", PASSWORD) is None
    # replacing a user keeps the others
    set_user(users, "thandi", "another long password", "public")
    again = load_users(users)
    assert again["thandi"].viewer.role == "public" and "station" in again


def test_short_passwords_and_plain_text_passwords_are_refused(tmp_path):
    with pytest.raises(AccessError, match="at least 12"):
        set_user(tmp_path / "users.toml", "x", "short", "public")
    users = tmp_path / "plain.toml"
    users.write_text('[users.bob]\nrole = "analyst"\npassword = "hunter2hunter2"\n')
    with pytest.raises(AccessError, match="not an argon2 hash"):
        load_users(users)


def test_access_file_paths_are_relative_to_it(tmp_path):
    (tmp_path / "conf").mkdir()
    access = tmp_path / "conf" / "access.toml"
    access.write_text(
        '[sign_in]\nusers = "users.toml"\noidc = "default"\naudit_log = "logs/audit.jsonl"\n'
        '[oidc_users]\n"Thandi@CapeTown.gov.za" = "analyst"\n"cpf@example.org" = "public"\n'
        '[privacy]\nk = 5\nsensitive_level = "city"\n'
    )
    config = load_access(access)
    assert config.users_file == tmp_path / "conf" / "users.toml"
    assert config.audit_log == tmp_path / "conf" / "logs" / "audit.jsonl"
    assert config.sign_in_required and config.oidc == "default"
    assert config.oidc_viewer("thandi@capetown.gov.za ").role == "analyst"
    assert config.oidc_viewer("someone@else.org") is None
    assert config.privacy == PrivacyRules(k=5, sensitive_level="city")
    assert not AccessConfig().sign_in_required


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[signin]\n", "unknown section"),
        ("[sign_in]\nusers = 3\n", "must be a file path"),
        ("[sign_in]\npasswords = 'x'\n", "unknown key"),
        ("[oidc_users]\n'a@b.c' = 'boss'\n", "Unknown role"),
        ("[privacy]\nk = 0\n", r"\[privacy\]: k must"),
        ("[sign_in\n", "not valid TOML"),
    ],
)
def test_a_bad_access_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "access.toml"
    path.write_text(text)
    with pytest.raises(AccessError, match=message):
        load_access(path)


def test_the_example_access_file_loads_and_states_the_defaults():
    from conftest import ROOT

    config = load_access(ROOT / "data" / "access.example.toml")
    assert config.privacy == PrivacyRules()
    assert config.sign_in_required and config.audit_log is not None


def test_user_names_are_printable_and_may_be_any_script(tmp_path):
    users = tmp_path / "users.toml"
    set_user(users, "Thandi Nkosi-Müller 😀", PASSWORD, "public")
    assert "Thandi Nkosi-Müller 😀" in load_users(users)
    for bad in ("a\tb", 'say "hi"', "back\\slash", "", "x" * 201):
        with pytest.raises(AccessError, match="printable"):
            set_user(users, bad, PASSWORD, "public")
    assert len(load_users(users)) == 1
