"""ApiConfig: every PINTEREST_API_* variable validated once at start; `pinterest api` reports a bad
value in one line (variable, value, what is allowed) with exit status 2 and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pinterest_assets.settings import project_root
from pinterest_ingest.api import ApiConfig, ApiConfigError

BASE = {"PINTEREST_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}


@pytest.mark.parametrize("variable,value,allowed", [
    ("PINTEREST_API_ACK_TIMEOUT", "abc", "finite number of seconds > 0"),
    ("PINTEREST_API_ACK_TIMEOUT", "inf", "finite number of seconds > 0"),
    ("PINTEREST_API_ACK_TIMEOUT", "nan", "finite number of seconds > 0"),
    ("PINTEREST_API_ACK_TIMEOUT", "0", "finite number of seconds > 0"),
    ("PINTEREST_API_ACK_TIMEOUT", "-2", "finite number of seconds > 0"),
    ("PINTEREST_API_ACK_TIMEOUT", "1e308", "<= 3600"),
    ("PINTEREST_API_LINGER_MS", "5.5", "an integer from 0 to 60000"),
    ("PINTEREST_API_LINGER_MS", "-1", "an integer from 0 to 60000"),
    ("PINTEREST_API_PORT", "0", "an integer from 1 to 65535"),
    ("PINTEREST_API_PORT", "65536", "an integer from 1 to 65535"),
    ("PINTEREST_API_PORT", "http", "an integer from 1 to 65535"),
    ("PINTEREST_KAFKA_BOOTSTRAP", "localhost", "host:port"),
    ("PINTEREST_KAFKA_BOOTSTRAP", "h:99999", "host:port"),
])
def test_a_bad_variable_is_one_line_naming_it_the_value_and_what_is_allowed(variable, value, allowed):
    with pytest.raises(ApiConfigError) as raised:
        ApiConfig.from_env({**BASE, variable: value})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{variable}={value!r} is not allowed: ") and allowed in message


def test_a_key_with_spaces_is_refused_without_echoing_it():
    with pytest.raises(ApiConfigError) as raised:
        ApiConfig.from_env({**BASE, "PINTEREST_API_KEY": "my secret"})
    assert "PINTEREST_API_KEY" in str(raised.value) and "my secret" not in str(raised.value)


def test_good_values_and_defaults():
    config = ApiConfig.from_env({**BASE, "PINTEREST_API_ACK_TIMEOUT": " 2.5 ", "PINTEREST_API_LINGER_MS": "0",
                                 "PINTEREST_API_PORT": "65535", "PINTEREST_API_KEY": "k3y!",
                                 "PINTEREST_API_URL": "ignored-here"})
    assert (config.ack_timeout, config.linger_ms, config.port, config.api_key) == (2.5, 0, 65535, "k3y!")
    assert config.bootstrap_servers == "127.0.0.1:9092"
    defaults = ApiConfig.from_env({**BASE, "PINTEREST_API_ACK_TIMEOUT": ""})  # empty counts as unset
    assert (defaults.ack_timeout, defaults.linger_ms, defaults.port, defaults.api_key) == (5.0, 5, 8000, None)
    # a flag overrides a good value, but a bad variable is reported even with the flag
    assert ApiConfig.from_env({**BASE, "PINTEREST_API_ACK_TIMEOUT": "9"}, ack_timeout=1.5).ack_timeout == 1.5
    with pytest.raises(ApiConfigError):
        ApiConfig.from_env({**BASE, "PINTEREST_API_ACK_TIMEOUT": "abc"}, ack_timeout=1.5)
    with pytest.raises(ApiConfigError, match="PINTEREST_API_ACK_TIMEOUT"):
        ApiConfig(ack_timeout=float("nan"))  # built in code: the same bounds


def _api(env_extra: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINTEREST_API_")}
    env.update({"PINTEREST_KAFKA_BOOTSTRAP": "127.0.0.1:9", **env_extra})
    return subprocess.run([sys.executable, "-m", "pinterest_platform.cli", "api", *args], env=env,
                          cwd=project_root(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env,args,variable,value", [
    ({"PINTEREST_API_ACK_TIMEOUT": "abc"}, ["--ack-timeout", "2"], "PINTEREST_API_ACK_TIMEOUT", "abc"),
    ({"PINTEREST_API_ACK_TIMEOUT": "inf"}, [], "PINTEREST_API_ACK_TIMEOUT", "inf"),
    ({"PINTEREST_API_ACK_TIMEOUT": "nan"}, ["--ack-timeout", "3"], "PINTEREST_API_ACK_TIMEOUT", "nan"),
    ({"PINTEREST_API_ACK_TIMEOUT": "0"}, [], "PINTEREST_API_ACK_TIMEOUT", "0"),
    ({"PINTEREST_API_ACK_TIMEOUT": "-1"}, [], "PINTEREST_API_ACK_TIMEOUT", "-1"),
    ({"PINTEREST_API_PORT": "99999"}, [], "PINTEREST_API_PORT", "99999"),
    ({"PINTEREST_API_PORT": "eighty"}, ["--port", "8123"], "PINTEREST_API_PORT", "eighty"),
    ({"PINTEREST_API_LINGER_MS": "soon"}, [], "PINTEREST_API_LINGER_MS", "soon"),
])
def test_pinterest_api_exits_2_with_one_line_and_no_traceback(env, args, variable, value):
    result = _api(env, *args)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {variable}={value!r} is not allowed: ")


@pytest.mark.parametrize("args", [["--ack-timeout", "nan"], ["--ack-timeout", "inf"], ["--ack-timeout", "0"],
                                  ["--port", "0"], ["--port", "70000"]])
def test_bad_flags_exit_2_naming_the_flag(args):
    result = _api({}, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"Invalid value for '{args[0]}'" in result.stderr
