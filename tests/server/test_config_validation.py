"""Configuration is checked before the server listens: every problem at once, each
with what to set, exit status 2, nothing created or changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import main
from server.config import Config, Environment, check
from tests.self_signed import make_certificate

STRONG_SECRET = "k3J9-vQ2_mZ8pL5xR7tW1yB4nC6dF0gH"
STRONG_ADMIN_KEY = "Adm1n-Key_9qW3eR5tY7uI0oP2aS4dF6g"
STRONG_TURN_SECRET = "Tn7-cV2_xZ9qL4wP8rM1bK6jH3gF5dS0a"


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "web"
    directory.mkdir()
    (directory / "index.html").write_text("<!doctype html>")
    return directory


@pytest.fixture
def production(tmp_path: Path, web_dir: Path) -> dict[str, str]:
    """A production environment with nothing wrong; each test breaks one thing."""
    return {
        "GROUPSESSION_STATE_DIR": str(tmp_path / "state"),
        "GROUPSESSION_ENV": "production",
        "GROUPSESSION_SECRET": STRONG_SECRET,
        "GROUPSESSION_ADMIN_KEY": STRONG_ADMIN_KEY,
        "GROUPSESSION_PUBLIC_URL": "https://groups.example.org",
        "GROUPSESSION_BEHIND_TLS_PROXY": "true",
        "GROUPSESSION_WEB_DIR": str(web_dir),
    }


def refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> list[str]:
    """Run `groupsession serve` in this process with exactly ``env``; it must refuse."""
    for name in os.environ:
        if name.startswith("GROUPSESSION_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and all(line.startswith("groupsession: ") for line in lines), lines
    return lines


def test_a_good_production_configuration_has_no_problem(production: dict[str, str]) -> None:
    assert check(Config.from_env(production)) == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "0", "GROUPSESSION_PORT must be 1 to 65535, not 0"),
        ("PORT", "70000", "GROUPSESSION_PORT must be 1 to 65535, not 70000"),
        ("PORT", "eighty", "GROUPSESSION_PORT must be a whole number, not 'eighty'"),
        ("ROOM_CAPACITY", "0", "GROUPSESSION_ROOM_CAPACITY must be 2 to 50, not 0"),
        ("ROOM_CAPACITY", "-3", "GROUPSESSION_ROOM_CAPACITY must be 2 to 50, not -3"),
        ("ROOM_CAPACITY", "51", "GROUPSESSION_ROOM_CAPACITY must be 2 to 50, not 51"),
        ("TOKEN_TTL", "5", "GROUPSESSION_TOKEN_TTL must be 60 to 86400 seconds, not 5"),
        ("TOKEN_TTL", "100000", "GROUPSESSION_TOKEN_TTL must be 60 to 86400 seconds"),
        ("LOG_LEVEL", "loud", "GROUPSESSION_LOG_LEVEL must be one of DEBUG, INFO, WARNING"),
        ("LOG_FORMAT", "xml", "GROUPSESSION_LOG_FORMAT must be text or json, not 'xml'"),
        ("ENV", "staging", "GROUPSESSION_ENV must be one of development, production"),
        ("BEHIND_TLS_PROXY", "maybe", "GROUPSESSION_BEHIND_TLS_PROXY must be true or false"),
        ("DRAIN_TIMEOUT", "-1", "GROUPSESSION_DRAIN_TIMEOUT must be 0 or more, not -1"),
        ("PUBLIC_URL", "ftp://groups.example.org", "must start with http:// or https://"),
        ("PUBLIC_URL", "https://", "GROUPSESSION_PUBLIC_URL has no host"),
        ("PUBLIC_URL", "https://groups.example.org/app", "must have no path, query or fragment"),
        ("PUBLIC_URL", "https://groups.example.org/?a=1", "must have no path, query or fragment"),
        ("PUBLIC_URL", "https://groups.example.org:99999", "GROUPSESSION_PUBLIC_URL is not a URL"),
        ("PUBLIC_URL", "https://user:pw@groups.example.org", "must not carry a user name"),
        ("ALLOWED_ORIGINS", "https://ok.example,https://x.example/p", "'https://x.example/p'"),
        ("SECRET", "short", "GROUPSESSION_SECRET must be at least 32 characters"),
        ("SECRET", "x" * 40, "GROUPSESSION_SECRET looks typed rather than generated"),
        (
            "SECRET",
            "replace-with-output-of-openssl-rand-base64-48",
            "GROUPSESSION_SECRET is an example value from the documentation",
        ),
        ("ADMIN_KEY", "admin-key-for-tests", "GROUPSESSION_ADMIN_KEY must be at least 32"),
        ("ADMIN_KEY", STRONG_SECRET, "GROUPSESSION_ADMIN_KEY must differ from GROUPSESSION_SECRET"),
        ("TURN_SECRET", STRONG_TURN_SECRET, "GROUPSESSION_TURN_SECRET and GROUPSESSION_TURN_URIS"),
        (
            "TURN_URIS",
            "turn:turn.example.org",
            "GROUPSESSION_TURN_SECRET and GROUPSESSION_TURN_URIS",
        ),
        ("TURN_CREDENTIAL_TTL", "5", "GROUPSESSION_TURN_CREDENTIAL_TTL must be 60 to 604800"),
        ("ANNOUNCED_ADDRESS", "media.example.org", "GROUPSESSION_ANNOUNCED_ADDRESS must be the IP"),
        ("ANNOUNCED_ADDRESS", "0.0.0.0", "GROUPSESSION_ANNOUNCED_ADDRESS must be the IP"),
        ("MEDIA_PORTS", "40000", "GROUPSESSION_MEDIA_PORTS must be a range like 40000-40999"),
        ("MEDIA_PORTS", "40999-40000", "GROUPSESSION_MEDIA_PORTS must be a range within 1024-"),
        ("MEDIA_PORTS", "80-2000", "GROUPSESSION_MEDIA_PORTS must be a range within 1024-"),
        ("MEDIA_PORTS", "40000-40003", "GROUPSESSION_MEDIA_PORTS must hold at least 16 ports"),
        ("REDIS_URL", "http://cache:6379", "GROUPSESSION_REDIS_URL must be a redis://"),
        ("REDIS_PREFIX", "gs:prod", "GROUPSESSION_REDIS_PREFIX is 1 to 32 letters"),
        ("REDIS_TIMEOUT_MS", "0", "GROUPSESSION_REDIS_TIMEOUT_MS must be 10 to 60000, not 0"),
        ("NODE_URL", "https://node-1.example.org/x", "GROUPSESSION_NODE_URL must have no path"),
    ],
)
def test_each_rule_is_refused_with_its_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    production: dict[str, str],
    name: str,
    value: str,
    message: str,
) -> None:
    lines = refused(monkeypatch, capsys, production | {f"GROUPSESSION_{name}": value})
    assert message in lines[0]
    # Only what follows from it besides (an unreadable proxy flag counts as false).
    assert len(lines) == (2 if name == "BEHIND_TLS_PROXY" else 1), lines


@pytest.mark.parametrize(
    ("secret", "uris", "message"),
    [
        (STRONG_TURN_SECRET, "stun:stun.example.org", "'stun:stun.example.org' is not turn:"),
        (STRONG_TURN_SECRET, "turn:t.example.org:99999", "has a port out of range"),
        (STRONG_TURN_SECRET, "turn:t.example.org?transport=sctp", "is not turn:host"),
        ("short", "turn:t.example.org", "GROUPSESSION_TURN_SECRET must be at least 32"),
        ("y" * 40, "turn:t.example.org", "GROUPSESSION_TURN_SECRET looks typed"),
        (STRONG_SECRET, "turn:t.example.org", "GROUPSESSION_TURN_SECRET must differ"),
    ],
)
def test_turn_rules_are_refused_with_their_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    production: dict[str, str],
    secret: str,
    uris: str,
    message: str,
) -> None:
    turn = {"GROUPSESSION_TURN_SECRET": secret, "GROUPSESSION_TURN_URIS": uris}
    lines = refused(monkeypatch, capsys, production | turn)
    assert len(lines) == 1 and message in lines[0], lines


def test_a_good_turn_and_media_network_configuration_passes(production: dict[str, str]) -> None:
    env = production | {
        "GROUPSESSION_TURN_SECRET": STRONG_TURN_SECRET,
        "GROUPSESSION_TURN_URIS": "turn:t.example.org:3478?transport=udp, "
        "turns:t.example.org:443?transport=tcp",
        "GROUPSESSION_TURN_CREDENTIAL_TTL": "7200",
        "GROUPSESSION_ANNOUNCED_ADDRESS": "203.0.113.7",
        "GROUPSESSION_MEDIA_PORTS": "40000-40999",
    }
    config = Config.from_env(env)
    assert check(config) == []
    assert config.media_ports == (40000, 40999)
    turn = config.turn()
    assert turn is not None and turn.ttl_s == 7200 and len(turn.uris) == 2


def test_production_requires_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], production: dict[str, str]
) -> None:
    env = {k: v for k, v in production.items() if k != "GROUPSESSION_SECRET"}
    (line,) = refused(monkeypatch, capsys, env)
    assert "GROUPSESSION_SECRET is required when GROUPSESSION_ENV=production" in line


def test_production_refuses_plain_http(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], production: dict[str, str]
) -> None:
    # Behind a proxy or not: the address in members' links must be https for the camera.
    for proxy in ("true", "false"):
        env = production | {
            "GROUPSESSION_PUBLIC_URL": "http://groups.example.org",
            "GROUPSESSION_BEHIND_TLS_PROXY": proxy,
        }
        (line,) = refused(monkeypatch, capsys, env)
        assert "production needs https" in line
    no_public_url = {k: v for k, v in production.items() if k != "GROUPSESSION_PUBLIC_URL"}
    (line,) = refused(monkeypatch, capsys, no_public_url)
    assert "production needs https" in line


def test_production_https_needs_something_to_terminate_tls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], production: dict[str, str]
) -> None:
    (line,) = refused(monkeypatch, capsys, production | {"GROUPSESSION_BEHIND_TLS_PROXY": "false"})
    assert "nothing here terminates TLS" in line


def test_tls_files_are_checked(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    production: dict[str, str],
    tmp_path: Path,
) -> None:
    certificate = make_certificate(tmp_path / "tls")
    base = production | {"GROUPSESSION_BEHIND_TLS_PROXY": "false"}
    good = base | {
        "GROUPSESSION_TLS_CERT": str(certificate.cert),
        "GROUPSESSION_TLS_KEY": str(certificate.key),
    }
    assert check(Config.from_env(good)) == []
    (line,) = refused(monkeypatch, capsys, base | {"GROUPSESSION_TLS_CERT": str(certificate.cert)})
    assert "GROUPSESSION_TLS_CERT and GROUPSESSION_TLS_KEY go together" in line
    (line,) = refused(monkeypatch, capsys, good | {"GROUPSESSION_TLS_KEY": str(tmp_path / "no")})
    assert f"GROUPSESSION_TLS_KEY {tmp_path / 'no'} is not a readable file" in line
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    (line,) = refused(monkeypatch, capsys, good | {"GROUPSESSION_TLS_KEY": str(garbage)})
    assert "GROUPSESSION_TLS_CERT and GROUPSESSION_TLS_KEY do not load" in line


def test_the_audit_dir_must_be_writable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    production: dict[str, str],
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    (line,) = refused(monkeypatch, capsys, production | {"GROUPSESSION_AUDIT_DIR": str(a_file)})
    assert f"GROUPSESSION_AUDIT_DIR {a_file} exists and is not a directory" in line
    below = a_file / "audit"
    (line,) = refused(monkeypatch, capsys, production | {"GROUPSESSION_AUDIT_DIR": str(below)})
    assert f"cannot be created: {a_file} is not a directory" in line
    creatable = tmp_path / "not" / "yet" / "audit"
    assert check(Config.from_env(production | {"GROUPSESSION_AUDIT_DIR": str(creatable)})) == []
    assert not (tmp_path / "not").exists()  # checking creates nothing


def test_a_missing_web_client_is_fatal_in_production_only(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    production: dict[str, str],
    tmp_path: Path,
) -> None:
    env = production | {"GROUPSESSION_WEB_DIR": str(tmp_path / "nowhere")}
    (line,) = refused(monkeypatch, capsys, env)
    assert "the web client is not built" in line and "index.html is missing" in line
    development = Config.from_env(env | {"GROUPSESSION_ENV": "development"})
    assert development.environment is Environment.DEVELOPMENT
    (problem,) = check(development)
    assert not problem.fatal and "the web client is not built" in problem.message


def test_every_problem_at_once_from_the_real_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSESSION_")}
    env |= {
        "GROUPSESSION_STATE_DIR": str(tmp_path),
        "GROUPSESSION_PORT": "0",
        "GROUPSESSION_ROOM_CAPACITY": "0",
        "GROUPSESSION_LOG_LEVEL": "loud",
        "GROUPSESSION_PUBLIC_URL": "groups.example.org",
    }
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(" must ")[0].split(" is ")[0] for line in lines] == [
        "groupsession: GROUPSESSION_PORT",
        "groupsession: GROUPSESSION_ROOM_CAPACITY",
        "groupsession: GROUPSESSION_LOG_LEVEL",
        "groupsession: GROUPSESSION_PUBLIC_URL",
    ], lines
    assert result.stdout == ""


def test_check_runs_the_same_checks_without_serving(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    production: dict[str, str],
) -> None:
    for name in os.environ:
        if name.startswith("GROUPSESSION_"):
            monkeypatch.delenv(name)
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 0
    assert capsys.readouterr().out.strip() == "configuration ok"
    monkeypatch.setenv("GROUPSESSION_ROOM_CAPACITY", "0")
    assert main(["check"]) == 2
    assert "GROUPSESSION_ROOM_CAPACITY must be 2 to 50" in capsys.readouterr().err


def test_links_are_not_minted_from_an_unreadable_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSESSION_")}
    env |= {"GROUPSESSION_STATE_DIR": str(tmp_path), "GROUPSESSION_PORT": "80a"}
    for command in (
        ["token", "--room", "r1", "--role", "member", "--name", "Ana"],
        ["operator-token"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "server", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, command
        assert "GROUPSESSION_PORT must be a whole number, not '80a'" in result.stderr
        assert "#token=" not in result.stdout and "#operator=" not in result.stdout
