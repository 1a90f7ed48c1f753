"""``davserver health``: the container health check probes where the server really listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.tls import TlsFiles


def health(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "davserver", "health", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def config_file(tmp_path: Path, **values: object) -> Path:
    path = tmp_path / "davserver.yaml"
    path.write_text(yaml.safe_dump({"host": "127.0.0.1", **values}))
    return path


@pytest.mark.e2e
def test_health_follows_the_configured_port_and_says_why(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    with ServerProcess(root, ["--workers", "1"]) as server:
        config = config_file(tmp_path, port=server.port)
        result = health("--config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout == f"healthy: http://127.0.0.1:{server.port}/healthz answered 200 OK\n"
        by_url = health("--url", f"http://127.0.0.1:{server.port}/healthz")
        assert by_url.returncode == 0 and by_url.stdout.startswith("healthy: ")
    down = health("--config", str(config))
    assert down.returncode == 1
    assert down.stdout.startswith(f"unhealthy: http://127.0.0.1:{server.port}/healthz: ")
    assert "refused" in down.stdout and down.stdout.count("\n") == 1


@pytest.mark.e2e
def test_health_over_tls_trusts_the_configured_certificate(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    args = ["--tls-cert", str(tls_files.cert), "--tls-key", str(tls_files.key), "--workers", "1"]
    with ServerProcess(root, args, ca_file=tls_files.ca) as server:
        # A server on every interface is probed on loopback; $DAVSERVER_CONFIG names the config.
        config = config_file(
            tmp_path,
            host="0.0.0.0",
            port=server.port,
            tls_cert=str(tls_files.cert),
            tls_key=str(tls_files.key),
        )
        result = health(env={"DAVSERVER_CONFIG": str(config), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith(f"healthy: https://127.0.0.1:{server.port}/healthz ")
        by_url = health("--url", f"https://127.0.0.1:{server.port}/healthz")
        assert by_url.returncode == 0, by_url.stdout
        plain = health("--url", f"http://127.0.0.1:{server.port}/healthz")
        assert plain.returncode == 1 and plain.stdout.startswith("unhealthy: ")


@pytest.mark.e2e
def test_a_bad_config_is_unhealthy_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: many\n")
    result = health("--config", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: cannot read the configuration: ")


@pytest.mark.e2e
def test_ready_and_reads_probe_what_a_lock_store_outage_leaves(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    redis = RedisServer(tmp_path / "redis").start()
    try:
        config = config_file(tmp_path, workers=1, lock_store=redis.url, ready_probe_timeout=1)
        with ServerProcess(root, ["--config", str(config)], foreign_entries=False) as server:
            probe = config_file(tmp_path, port=server.port)
            base = f"http://127.0.0.1:{server.port}"
            ready = health("--config", str(probe), "--ready")
            assert (ready.returncode, ready.stdout) == (
                0,
                f"healthy: {base}/readyz answered 200 OK: ready\n",
            )
            reads = health("--config", str(probe), "--reads")
            assert reads.returncode == 0, reads.stdout
            assert reads.stdout.startswith(f"healthy: {base}/readyz?reads answered 200 OK: ")
            redis.kill()  # by its PID: the lock store is gone, reads still work
            down = health("--config", str(probe), "--ready")
            assert down.returncode == 1, down.stdout
            assert down.stdout.startswith(f"unhealthy: {base}/readyz answered 503 ")
            assert "lock store unreachable" in down.stdout and down.stdout.count("\n") == 1
            degraded = health("--config", str(probe), "--reads")
            assert degraded.returncode == 0, degraded.stdout
            assert (
                '"status": "degraded"' in degraded.stdout and '"writes": false' in degraded.stdout
            )
            alive = health("--config", str(probe))
            assert alive.returncode == 0 and alive.stdout.endswith("/healthz answered 200 OK\n")
    finally:
        redis.stop()


@pytest.mark.e2e
def test_ready_and_reads_are_one_choice() -> None:
    result = health("--ready", "--reads", "--url", "http://127.0.0.1:9/healthz")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
