"""Configuration: a wrong value fails at start with the key's path; secrets come only from env or files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from connector.config import load_settings, parse_duration, parse_settings
from connector.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def problems(data) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.message


def test_the_example_configuration_is_valid_and_complete():
    settings = load_settings(str(EXAMPLE))
    assert [a.name for a in settings.accounts] == ["rozetka-main", "chopni-main"]
    assert settings.schedule.pull_every == timedelta(seconds=120)
    assert settings.schedule.track_every == timedelta(minutes=30)
    assert settings.carriers["novaposhta"].api_key.env == "NOVAPOSHTA_API_KEY"
    assert settings.store.url == "sqlite:///connector.db"


def test_an_empty_file_means_all_defaults():
    settings = parse_settings(None)
    assert settings.accounts == [] and settings.store.url == "sqlite:///connector.db"


@pytest.mark.parametrize("text,expected", [("120s", 120), ("5m", 300), ("1.5h", 5400), ("1d", 86400),
                                           (30, 30), ("250ms", 0.25)])
def test_durations(text, expected):
    assert parse_duration(text).total_seconds() == expected


def test_a_bad_value_names_its_path_and_what_is_allowed():
    data = example()
    data["schedule"]["pull_every"] = "often"
    data["accounts"][1]["marketplace"] = "amazon"
    message = problems(data)
    assert "schedule.pull_every: 'often' is not a duration; write e.g. 30s, 5m, 2h or 1d" in message
    assert "accounts[1].marketplace: 'amazon' is not a supported marketplace; one of: rozetka, chopni" in message


def test_an_unknown_key_is_refused_by_path():
    data = example()
    data["accounts"][0]["pasword_env"] = "TYPO"
    assert "accounts[0].pasword_env: unknown key" in problems(data)


def test_a_secret_written_into_the_file_is_refused():
    data = example()
    data["accounts"][0]["password"] = "hunter2"
    message = problems(data)
    assert "accounts[0]: 'password' must not be written in the config file" in message
    assert "hunter2" not in message


def test_an_account_without_a_way_to_log_in_is_refused():
    data = example()
    del data["accounts"][0]["password_env"]
    assert ("a rozetka account needs token_env (or token_file) or username and password_env (or password_file)"
            in problems(data))


def test_plain_http_is_refused_except_for_the_local_sandboxes():
    data = example()
    data["accounts"][0]["base_url"] = "http://marketplace.example"
    assert "accounts[0].base_url" in problems(data) and "plain http" in problems(data)
    data["accounts"][0]["base_url"] = "http://127.0.0.1:8080/"
    assert parse_settings(data).accounts[0].base_url == "http://127.0.0.1:8080"


def test_duplicate_account_names_are_refused():
    data = example()
    data["accounts"][1]["name"] = "rozetka-main"
    assert "used twice" in problems(data)


def test_secrets_are_read_from_the_environment_or_a_file(monkeypatch, tmp_path):
    data = example()
    secret_file = tmp_path / "chopni"
    secret_file.write_text("s3cret\n")
    data["accounts"][1] = {k: v for k, v in data["accounts"][1].items() if k != "password_env"}
    data["accounts"][1]["password_file"] = str(secret_file)
    settings = parse_settings(data)
    monkeypatch.setenv("ROZETKA_PASSWORD", "from-env")
    assert settings.account("rozetka-main").password.value() == "from-env"
    assert settings.account("chopni-main").password.value() == "s3cret"
    monkeypatch.delenv("ROZETKA_PASSWORD")
    assert settings.account("rozetka-main").password.value() is None


def test_a_token_wins_over_a_password():
    data = example()
    data["accounts"][0]["token_env"] = "ROZETKA_TOKEN"
    assert list(parse_settings(data).account("rozetka-main").secrets()) == ["token"]


def test_no_config_says_how_to_start(monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="Pass --config PATH or set CONNECTOR_CONFIG") as caught:
        load_settings(None)
    assert caught.value.exit_code == 2


def test_config_path_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONNECTOR_CONFIG", str(EXAMPLE))
    assert load_settings(None).accounts[0].name == "rozetka-main"


def test_broken_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("store:\n  url: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML at line"):
        load_settings(str(bad))


@pytest.mark.parametrize("text", ["99999999999999999999d", "1" + "0" * 400, "3651d"])
def test_an_overlong_duration_is_refused_by_path_not_by_a_crash(text):
    with pytest.raises(ValueError, match="too long"):
        parse_duration(text)
    data = example()
    data["schedule"]["pull_every"] = text
    assert "schedule.pull_every: " in problems(data) and "too long; at most 3650d" in problems(data)


def test_stale_after_is_bounded_so_that_the_staleness_stays_a_duration():
    data = example()
    data["daemon"]["stale_after"] = 10**12
    assert "daemon.stale_after: " in problems(data)


def test_pulls_at_once_default_to_eight_and_chopni_to_two_and_a_marketplace_left_out_keeps_its_default():
    assert parse_settings(example()).daemon.pull_workers == 8
    assert parse_settings(None).daemon.pulls_per_marketplace == {"chopni": 2}
    data = example()
    data["daemon"]["pulls_per_marketplace"] = {"rozetka": 4}
    assert parse_settings(data).daemon.pulls_per_marketplace == {"chopni": 2, "rozetka": 4}


def test_pull_bounds_are_refused_by_path():
    data = example()
    data["daemon"]["pull_workers"] = 0
    data["daemon"]["pulls_per_marketplace"] = {"chopni": 0}
    message = problems(data)
    assert "daemon.pull_workers: Input should be greater than or equal to 1" in message
    assert "daemon.pulls_per_marketplace.chopni: Input should be greater than or equal to 1" in message
    data["daemon"] = {"pulls_per_marketplace": {"amazon": 2}}
    assert "daemon.pulls_per_marketplace: unknown marketplace amazon; one of: rozetka, chopni" in problems(data)


# -- the environment over the file ------------------------------------------------------------------------------

def test_the_environment_wins_over_the_file_key_by_key(monkeypatch):
    monkeypatch.setenv("CONNECTOR_STORE__URL", "postgresql://connector@db:5432/connector")
    monkeypatch.setenv("CONNECTOR_SCHEDULE__PULL_EVERY", "7m")
    monkeypatch.setenv("connector_daemon__health_port", "0")  # names are not case-sensitive
    monkeypatch.setenv("CONNECTOR_CARRIERS__NOVAPOSHTA__API_KEY_ENV", "NP_KEY_2")
    monkeypatch.setenv("CONNECTOR_DB_PASSWORD", "not a setting")  # compose's: left alone
    monkeypatch.setenv("CONNECTOR_DAEMON__PULLS_PER_MARKETPLACE__PROMUA", "3")
    settings = load_settings(str(EXAMPLE))
    assert settings.store.url == "postgresql://connector@db:5432/connector"
    assert settings.schedule.pull_every == timedelta(minutes=7)
    assert settings.schedule.push_every == timedelta(seconds=5)  # the file's, where the environment is silent
    assert settings.daemon.health_port == 0
    assert settings.daemon.pulls_per_marketplace == {"chopni": 2, "promua": 3}
    assert settings.carriers["novaposhta"].api_key.env == "NP_KEY_2"
    # merged key by key: the file's base_url stays beside the environment's key
    assert settings.carriers["novaposhta"].base_url == example()["carriers"]["novaposhta"]["base_url"].rstrip("/")
    assert [a.name for a in settings.accounts] == ["rozetka-main", "chopni-main"]
    # parse_settings reads only what it is given (tests, the demo)
    assert parse_settings(example()).schedule.pull_every == timedelta(seconds=120)


def test_a_list_comes_from_the_environment_as_json_and_no_file_is_needed(monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.setenv("CONNECTOR_ACCOUNTS", '[{"name": "prom", "marketplace": "promua", '
                                             '"base_url": "https://my.prom.ua/api/v1", "token_env": "PROM_TOKEN"}]')
    settings = load_settings(None)
    assert [a.name for a in settings.accounts] == ["prom"] and settings.store.url == "sqlite:///connector.db"
    monkeypatch.setenv("CONNECTOR_ACCOUNTS", "prom")
    with pytest.raises(ConfigError, match="CONNECTOR_ACCOUNTS is not valid JSON") as caught:
        load_settings(str(EXAMPLE))
    assert caught.value.exit_code == 2


def test_a_wrong_value_from_the_environment_names_its_path_and_its_variable(monkeypatch):
    monkeypatch.setenv("CONNECTOR_SCHEDULE__PULL_EVERY", "often")
    monkeypatch.setenv("CONNECTOR_SCHEDULE__PUL_EVERY", "5m")
    monkeypatch.setenv("CONNECTOR_ACCOUNTS", '[{"name": "x", "marketplace": "rozetka", "base_url": "https://a.b", '
                                             '"username": "u", "password": "inline"}]')
    with pytest.raises(ConfigError) as caught:
        load_settings(str(EXAMPLE))
    message = caught.value.message
    assert "schedule.pull_every: 'often' is not a duration; write e.g. 30s, 5m, 2h or 1d " \
           "(from $CONNECTOR_SCHEDULE__PULL_EVERY)" in message
    assert "schedule.pul_every: unknown key" in message
    assert "accounts[0]: 'password' must not be written in the config file" in message  # no secrets there either
    assert "with the environment is not valid" in message


def test_an_unknown_section_in_the_environment_is_refused_not_ignored(monkeypatch):
    monkeypatch.setenv("CONNECTOR_STOR__URL", "postgresql://db/x")
    with pytest.raises(ConfigError, match="CONNECTOR_STOR__URL") as caught:
        load_settings(str(EXAMPLE))
    assert "CONNECTOR_STORE__URL" in caught.value.hint
