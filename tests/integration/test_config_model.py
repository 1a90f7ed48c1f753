"""The config model (davserver/config): nested sections, the flat keys of 0.1 with their
deprecation warnings, fractional timeouts, dotted keys in every error, the flags
generated from the model, SIGHUP's live keys, and the sample config it checks.
All in-process: cli.main is called, never spawned."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from davserver import cli
from davserver import config as config_mod
from davserver.http import HttpLimits
from davserver.http.limits import IDENTITY_HEADERS, http_limits
from davserver.runtime.lifecycle import changes

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "davserver.yaml"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "davserver.yaml"
    path.write_text(text)
    return str(path)


def check_config(file: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["check-config", file])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_nested_sections_are_read(tmp_path: Path) -> None:
    text = """
http: {body_timeout: 12, max_threads: 64, trusted_proxies: [10.0.0.0/8]}
locks: {timeout_default: 60, timeout_max: 120, allow_infinite: true}
store: {url: 'memory://', write_wait: 0.25}
admin: {listen: '127.0.0.1:9999', users: [root]}
logs: {level: DEBUG, format: json}
"""
    config = config_mod.load(write(tmp_path, text), {})
    assert config.http.body_timeout == 12.0 and config.http.max_threads == 64
    assert config.http.trusted_proxies == ["10.0.0.0/8"]
    assert (config.locks.timeout_default, config.locks.timeout_max) == (60, 120)
    assert config.locks.allow_infinite is True
    assert config.store.url == "memory://" and config.store.write_wait == 0.25
    assert config.admin.listen == "127.0.0.1:9999" and config.admin.users == ["root"]
    assert (config.logs.level, config.logs.format) == ("debug", "json")
    assert config.deprecated == ()


def test_flat_keys_still_work_with_one_warning_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "share").mkdir()
    text = "root: share\nbody_timeout: 5\nlock_timeout_max: 7200\nadmins: [root]\nport: 0\n"
    file = write(tmp_path, text)
    config = config_mod.load(file, {})
    assert config.http.body_timeout == 5.0
    assert config.locks.timeout_max == 7200
    assert config.admin.users == ["root"]
    assert len(config.deprecated) == 3  # root and port kept their place
    code, out, err = check_config(file, capsys)
    assert code == 0, err
    warnings = [line for line in out.splitlines() if "deprecated" in line]
    assert len(warnings) == 3
    for flat, dotted in [
        ("body_timeout", "http.body_timeout"),
        ("lock_timeout_max", "locks.timeout_max"),
        ("admins", "admin.users"),
    ]:
        (line,) = [w for w in warnings if f": {flat} is deprecated" in w]
        assert line.startswith(f"warning: {file}: ") and f"write {dotted}" in line


def test_admin_true_is_the_flat_form_of_admin_enabled(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    text = f"htpasswd: {htpasswd}\nadmin: true\nadmins: [root]\nadmin_listen: '127.0.0.1:0'\n"
    config = config_mod.load(write(tmp_path, text), {})
    assert config.admin.enabled is True and config.admin.listen == "127.0.0.1:0"
    assert config.auth.htpasswd == str(htpasswd)


def test_timeouts_take_fractions(tmp_path: Path) -> None:
    text = "http: {header_timeout: 0.5, body_timeout: 0.25, keepalive_timeout: 1.5}\n"
    text += "shutdown: {drain_timeout: 2.5}\nadmin: {outbox_interval: 0.2}\n"
    config = config_mod.load(write(tmp_path, text), {"http.min_body_rate_window": 0.5})
    assert config.http.header_timeout == 0.5
    assert config.http.body_timeout == 0.25
    assert config.http.keepalive_timeout == 1.5
    assert config.http.min_body_rate_window == 0.5
    assert config.shutdown.drain_timeout == 2.5
    assert config.admin.outbox_interval == 0.2
    args = cli.build_parser().parse_args(["serve", "--http-body-timeout", "0.5"])
    assert config_mod.load(None, cli.serve_overrides(args)).http.body_timeout == 0.5


def test_every_problem_names_file_dotted_key_and_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
port: 70000
http: {body_timeout: -1, max_header_count: many, header_timout: 3}
locks: {timeout_max: 0}
admin: {users: ['a:b']}
max_ranges: 0
"""
    file = write(tmp_path, text)
    code, out, err = check_config(file, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    expected = [
        "port: must be between 0 and 65535 (got 70000)",
        "http.body_timeout: must be a positive number of seconds (got -1)",
        "http.max_header_count: must be an integer, got str 'many'",
        "http.header_timout: unknown key (did you mean http.header_timeout?",
        "locks.timeout_max: must be a positive number of seconds (got 0)",
        "admin.users: every entry must be a user name (as users log in), not 'a:b'",
        "dav.max_ranges: must be between 1 and 10000 (got 0) (written as max_ranges)",
    ]
    for problem in expected:
        assert any(f"config error: {file}: {problem}" in line for line in lines), problem
    assert len(lines) == len(expected), err


def test_a_command_line_problem_names_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["serve", "--http-body-timeout", "0", "--port", "0"])
    assert code == 2
    assert "config error: command line: http.body_timeout: must be a positive" in (
        capsys.readouterr().err
    )


def test_unknown_section_keys_list_the_section_s_keys(tmp_path: Path) -> None:
    with pytest.raises(config_mod.ConfigError) as refused:
        config_mod.load(write(tmp_path, "tls: {certificate: x}\n"), {})
    assert refused.value.key == "tls.certificate"
    assert "known keys: cert, key" in refused.value.message


def test_relative_paths_in_sections_resolve_against_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    text = "auth: {htpasswd: users}\nadmin: {audit_log: audit.jsonl}\ntls: {cert: c.pem}\n"
    text += "tls_key: k.pem\n"
    config = config_mod.load(write(folder, text), {})
    assert config.auth.htpasswd == str(folder / "users")
    assert config.admin.audit_log == str(folder / "audit.jsonl")
    assert (config.tls.cert, config.tls.key) == (str(folder / "c.pem"), str(folder / "k.pem"))


def test_the_existing_flags_keep_their_spelling_and_every_key_has_one() -> None:
    parser = cli.build_parser()
    argv = ["serve", "ROOT", "--host", "::1", "--port", "1", "--config", "f.yaml"]
    argv += ["--htpasswd", "pw", "--readonly", "--log-level", "debug", "--log-format", "json"]
    argv += ["--lock-store", "memory://", "--workers", "1", "--state-dir", "st", "--admin"]
    argv += ["--admin-listen", "127.0.0.1:2", "--admins", "a, b", "--tls-cert", "c"]
    argv += ["--tls-key", "k", "--locks-timeout-max", "99", "--webhooks-urls", "http://x/"]
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in cli.serve_overrides(args).items() if v is not None}
    assert overrides == {
        "root": "ROOT",
        "host": "::1",
        "port": 1,
        "readonly": True,
        "workers": 1,
        "state_dir": "st",
        "tls.cert": "c",
        "tls.key": "k",
        "locks.timeout_max": 99,
        "store.url": "memory://",
        "auth.htpasswd": "pw",
        "logs.level": "debug",
        "logs.format": "json",
        "webhooks.urls": ["http://x/"],
        "admin.enabled": True,
        "admin.listen": "127.0.0.1:2",
        "admin.users": ["a", "b"],
    }
    assert args.config == "f.yaml"
    flags = [cli.flag_of(key) for key in config_mod.KEYS]
    given = [flag for flag in flags if flag is not None]
    assert len(given) == len(set(given))  # one flag per key
    structured = {key.dotted for key in config_mod.KEYS if cli.flag_of(key) is None}
    assert structured == {"permissions", "ldap", "auth.domain_controller_config", "quota.users"}


def test_help_names_each_flag_s_config_key_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--http-body-timeout SECONDS" in text and "--http-max-threads N" in text
    assert "(config key http.body_timeout; default: 30)" in text
    assert "--[no-]readonly" in text or "--readonly, --no-readonly" in text
    assert "default: one per CPU core" in text and "default: None" not in text


def test_sighup_compares_dotted_keys_and_keeps_restart_keys(tmp_path: Path) -> None:
    old = config_mod.load(None, {})
    new = config_mod.load(None, {"auth.htpasswd": "x", "http.max_threads": 300})
    live, restart = changes(old, new)
    assert (live, restart) == (["auth.htpasswd"], ["http.max_threads"])
    kept = config_mod.replaced(new, {"http.max_threads": old.http.max_threads})
    assert kept.http.max_threads == 256 and kept.auth.htpasswd == "x"
    assert {"auth.htpasswd", "logs.level", "tls.cert", "locks.timeout_max"} <= (
        config_mod.LIVE_KEYS
    )


def test_the_http_layer_takes_its_section_without_restating_defaults() -> None:
    config = config_mod.load(None, {"http.body_timeout": 0.5, "auth.user_header": "remote-user"})
    limits = http_limits(config)
    assert isinstance(limits, HttpLimits)
    defaults = HttpLimits().model_dump()
    assert defaults.pop("single_headers") == IDENTITY_HEADERS
    assert defaults == config_mod.Config().http.model_dump()
    assert limits.body_timeout == 0.5 and limits.body_waiters_cap == 128
    # The proxy's identity header may come once only, like Authorization.
    assert limits.single_headers == {b"Authorization", b"Remote-User"}


def test_the_sample_config_is_the_model_s_defaults() -> None:
    config = config_mod.load(str(SAMPLE), {})
    assert config.deprecated == ()
    defaults = dict(config_mod.dotted_values(config_mod.Config()))
    for key, value in config_mod.dotted_values(config):
        if key not in config_mod.PATH_KEYS or value is None:
            assert value == defaults[key], key
    # every key and every section appears, each with the model's help nearby
    data = yaml.safe_load(SAMPLE.read_text())
    assert set(data) == {k.dotted for k in config_mod.KEYS if k.section is None} | set(
        config_mod.SECTIONS
    )


def test_every_key_has_help_and_a_shown_default() -> None:
    for key in config_mod.KEYS:
        assert key.meta.help, key.dotted
        if key.default is None:
            assert key.meta.shown, f"{key.dotted}: --help would say 'default: None'"


def test_environment_variables_set_keys_between_file_and_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write(tmp_path, "http: {body_timeout: 7, header_timeout: 3}\nport: 9000\n")
    monkeypatch.setenv("DAVSERVER_HTTP__BODY_TIMEOUT", "0.5")
    monkeypatch.setenv("DAVSERVER_PORT", "9001")
    monkeypatch.setenv("DAVSERVER_ADMIN__USERS", "[alice, bob]")
    monkeypatch.setenv("DAVSERVER_CONFIG", "not a key: left to the health command")
    config = config_mod.load(file, {"port": 9002})
    assert config.http.body_timeout == 0.5 and config.http.header_timeout == 3.0
    assert config.port == 9002  # the command line beats the environment
    assert config.admin.users == ["alice", "bob"]
    monkeypatch.setenv("DAVSERVER_LOCKS__TIMEOUT_MAX", "soon")
    with pytest.raises(config_mod.ConfigError) as refused:
        config_mod.load(file, {})
    assert str(refused.value).startswith(
        "environment DAVSERVER_LOCKS__TIMEOUT_MAX: locks.timeout_max: must be an integer"
    )


def test_sizes_and_keys_added_with_quotas_ldap_and_sentinel_live_in_sections(
    tmp_path: Path,
) -> None:
    text = "quota: {bytes: 10GiB, users: {alice: 500MB, bob: null}}\n"
    text += "store: {redis_min_replicas: 1, ready_probe_timeout: 0.5}\n"
    text += "shutdown: {drain_ready_grace: 0.5}\ndav: {form_max_parts: 10}\n"
    config = config_mod.load(write(tmp_path, text), {})
    assert config.quota.bytes == 10 * 1024**3
    assert config.quota.users == {"alice": 500 * 1000**2, "bob": None}
    assert config.store.redis_min_replicas == 1 and config.store.ready_probe_timeout == 0.5
    assert config.shutdown.drain_ready_grace == 0.5 and config.dav.form_max_parts == 10
    flat = config_mod.load(write(tmp_path, "quota_bytes: 1GB\nquotas: {carol: 2GB}\n"), {})
    assert (flat.quota.bytes, flat.quota.users) == (1000**3, {"carol": 2 * 1000**3})
    assert len(flat.deprecated) == 2
    with pytest.raises(config_mod.ConfigError) as refused:
        config_mod.load(write(tmp_path, "quota: {bytes: lots}\n"), {})
    assert refused.value.key == "quota.bytes"
