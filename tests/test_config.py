"""Configuration: read from the environment, refused when unsafe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask, session

from app import create_app
from app.bots import load_captcha
from app.config import ConfigError, finalise, normalise_database_url, read_environment
from tests.support import free_port, operator_env, project_folder

STRONG = "k" * 40
# A valid LOG_SIGNING_KEY (32 bytes, URL-safe base64); its own rules are tested in test_log.py.
LOG_KEY = "A" * 43


def test_test_config_applies(app: Flask) -> None:
    assert app.testing
    assert app.config["EMAIL_CHECK_DELIVERABILITY"] is False
    assert app.config["BASE_URL"] == "http://localhost"


def production(tmp_path: Path, **env: str) -> dict[str, object]:
    config = read_environment({"LOG_SIGNING_KEY": LOG_KEY, **env})
    finalise(config, debug=False, testing=False, instance_path=str(tmp_path))
    return config


@pytest.mark.parametrize("secret", ["", "dev", "changeme", "short-but-random-ish"])
def test_production_refuses_a_weak_or_missing_secret_key(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        production(tmp_path, SECRET_KEY=secret, BASE_URL="https://letters.example.org")


def test_production_needs_a_base_url_for_links_in_mail(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BASE_URL"):
        production(tmp_path, SECRET_KEY=STRONG)


def test_production_settings_are_accepted_and_typed(tmp_path: Path) -> None:
    config = production(
        tmp_path,
        SECRET_KEY=STRONG,
        BASE_URL="https://letters.example.org/",
        MAIL_SERVER="smtp.example.org",
        MAIL_USE_TLS="true",
        DATABASE_URL="postgres://u@db/letters",
    )
    assert config["BASE_URL"] == "https://letters.example.org"
    assert config["MAIL_PORT"] == 587
    assert config["MAIL_USE_TLS"] is True
    assert config["EMAIL_CHECK_DELIVERABILITY"] is True
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@db/letters"


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    config = production(tmp_path, SECRET_KEY=STRONG, BASE_URL="http://x.example")
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path}/undersigned.db"


def test_a_malformed_value_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="MAIL_PORT"):
        read_environment({"MAIL_PORT": "twenty-five"})
    with pytest.raises(ConfigError, match="MAIL_USE_TLS"):
        read_environment({"MAIL_USE_TLS": "perhaps"})


def test_tls_and_ssl_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exclusive"):
        production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example", MAIL_USE_TLS="1", MAIL_USE_SSL="1")


def test_debug_without_a_key_gets_a_random_one_never_a_literal(tmp_path: Path) -> None:
    first, second = read_environment({}), read_environment({})
    finalise(first, debug=True, testing=False, instance_path=str(tmp_path))
    finalise(second, debug=True, testing=False, instance_path=str(tmp_path))
    assert len(first["SECRET_KEY"]) >= 32
    assert first["SECRET_KEY"] != second["SECRET_KEY"]
    assert first["EMAIL_CHECK_DELIVERABILITY"] is False


GOOD = {"SECRET_KEY": STRONG, "BASE_URL": "https://letters.example.org", "LOG_SIGNING_KEY": LOG_KEY}
# A setting an operator got wrong, and the start of the one line that must say so.
MISTAKES = [
    ({"SECRET_KEY": ""}, "SECRET_KEY is not set: "),
    ({"SECRET_KEY": "changeme"}, "SECRET_KEY is too weak: "),
    ({"BASE_URL": ""}, "BASE_URL is not set: "),
    ({"BASE_URL": "letters.example.org"}, "BASE_URL must be the site's http(s) address"),
    ({"LOG_SIGNING_KEY": "not-a-key"}, "LOG_SIGNING_KEY must be an Ed25519 private key"),
    ({"LOG_SIGNING_KEY": ""}, "LOG_SIGNING_KEY must be set outside debug mode"),
    ({"MAIL_PORT": "twenty-five"}, "MAIL_PORT must be a whole number, got 'twenty-five'"),
    ({"MAIL_USE_TLS": "perhaps"}, "MAIL_USE_TLS must be true or false"),
    ({"MAIL_USE_TLS": "1", "MAIL_USE_SSL": "1"}, "MAIL_USE_TLS and MAIL_USE_SSL are both true"),
    ({"COUNTER_SHARDS": "0"}, "COUNTER_SHARDS is a number of counter rows"),
    ({"PROXY_FIX_X_FOR": "-1"}, "PROXY_FIX_X_FOR is a number of trusted proxies"),
    ({"EMBED_ALLOWED_ORIGINS": "a;b"}, "EMBED_ALLOWED_ORIGINS is a space-separated list"),
    ({"RATELIMIT_SIGN_PER_NETWORK": "lots"}, "RATELIMIT_SIGN_PER_NETWORK must be a limit like"),
    ({"CAPTCHA": "no_such_module:make"}, "CAPTCHA='no_such_module:make' cannot be loaded"),
    ({"EXPORT_CACHE_SECONDS": "-1"}, "EXPORT_CACHE_SECONDS is how long a download file is reused"),
    ({"RATELIMIT_DOWNLOADS_PER_NETWORK": "lots"}, "RATELIMIT_DOWNLOADS_PER_NETWORK must be a limit like"),
    ({"MODERATOR_IDLE_MINUTES": "0"}, "MODERATOR_IDLE_MINUTES is a number of minutes, 1 or more"),
    ({"MODERATOR_SESSION_HOURS": "0"}, "MODERATOR_SESSION_HOURS is a number of hours, 1 or more"),
]
# How a message tells the operator what to do: set, make, leave unset, keep one of two, restore.
REMEDY = re.compile(r": .*\b(set|make|leave it unset|keep|restore)\b")


@pytest.mark.parametrize(("mistake", "message"), MISTAKES)
def test_each_configuration_error_says_what_is_wrong_and_how_to_fix_it_in_one_line(
    tmp_path: Path, mistake: dict[str, str], message: str
) -> None:
    env = {**GOOD, **mistake}
    with pytest.raises(ConfigError) as caught:
        config = read_environment(env)
        finalise(config, debug=False, testing=False, instance_path=str(tmp_path))
        load_captcha_of(config)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text and REMEDY.search(text), text


def load_captcha_of(config: dict[str, object]) -> None:
    """Load the configured CAPTCHA as create_app does."""
    app = Flask("captcha-check")
    app.config.update(config)
    load_captcha(app)


def run_flask(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python -m flask --app app ARGS`` in ``folder`` with only ``settings`` in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=folder,
        env=operator_env(folder.parent, **settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("mistake", "message"),
    [MISTAKES[0], MISTAKES[1], MISTAKES[2], MISTAKES[4], MISTAKES[6]],
)
def test_a_command_with_a_bad_setting_prints_one_line_and_exits_2(
    tmp_path: Path, mistake: dict[str, str], message: str
) -> None:
    result = run_flask(project_folder(tmp_path), "letter", "list", **{**GOOD, **mistake})
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {message}"), result.stderr
    assert (result.returncode, result.stdout) == (2, "")


def test_gunicorn_with_a_bad_setting_prints_one_line_and_stops(tmp_path: Path) -> None:
    folder = project_folder(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=folder,
        env=operator_env(tmp_path, **{**GOOD, "SECRET_KEY": "changeme"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    # gunicorn puts a blank line before and after the message.
    [line] = [line for line in output.splitlines() if line.strip()]
    assert line.startswith("Error: SECRET_KEY is too weak: ") and "make one with" in line, output
    assert result.returncode != 0


def test_normalise_database_url_leaves_other_drivers_alone() -> None:
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalise_database_url("postgresql+psycopg://a/b") == "postgresql+psycopg://a/b"
    assert normalise_database_url("postgresql://a/b") == "postgresql+psycopg://a/b"


def test_importing_the_app_package_has_no_side_effects() -> None:
    import app

    assert isinstance(app.create_app, type(create_app))
    assert not isinstance(getattr(app, "app", None), Flask)


def test_cookies_and_body_limit_are_set(app: Flask, tmp_path: Path) -> None:
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False  # BASE_URL is http in tests
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example")["SESSION_COOKIE_SECURE"] is True


def test_proxy_settings_default_to_trusting_no_proxy(tmp_path: Path) -> None:
    config = production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example")
    assert [config[f"PROXY_FIX_X_{part}"] for part in ("FOR", "PROTO", "HOST", "PORT", "PREFIX")] == [0] * 5
    config = production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example", PROXY_FIX_X_FOR="2")
    assert config["PROXY_FIX_X_FOR"] == 2


def test_proxy_settings_must_be_whole_numbers_of_zero_or_more(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PROXY_FIX_X_PROTO"):
        read_environment({"PROXY_FIX_X_PROTO": "yes"})
    with pytest.raises(ConfigError, match="PROXY_FIX_X_FOR"):
        production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example", PROXY_FIX_X_FOR="-1")


def test_session_cookies_follow_base_url_and_stay_http_only_and_lax(tmp_path: Path) -> None:
    for base_url, secure in (("https://a.example", True), ("http://a.example", False)):
        app = create_app(
            {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "BASE_URL": base_url, "SECRET_KEY": STRONG}
        )
        with app.test_request_context("/"):
            session["seen"] = True
            response = app.make_response("ok")
            app.session_interface.save_session(app, session, response)
        attributes = [part.strip().lower() for part in response.headers["Set-Cookie"].split(";")]
        assert "httponly" in attributes and "samesite=lax" in attributes
        assert ("secure" in attributes) is secure


def test_moderator_sessions_have_an_idle_and_an_absolute_limit(tmp_path: Path) -> None:
    config = production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example")
    assert (config["MODERATOR_IDLE_MINUTES"], config["MODERATOR_SESSION_HOURS"]) == (30, 12)
    shorter = production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example", MODERATOR_SESSION_HOURS="8")
    assert shorter["MODERATOR_SESSION_HOURS"] == 8
    for name in ("MODERATOR_SESSION_HOURS", "MODERATOR_IDLE_MINUTES"):
        with pytest.raises(ConfigError, match=f"{name} is a number of .*, 1 or more, got 0"):
            production(tmp_path, SECRET_KEY=STRONG, BASE_URL="https://a.example", **{name: "0"})
