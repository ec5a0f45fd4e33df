"""`enlace up` and `enlace demo` as a newcomer uses them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from tests.conftest import RunningStack
from tests.helpers import pid_alive, wait_until


def enlace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_prints_a_delivered_referral(stack: RunningStack):
    result = enlace("demo", "--data-dir", str(stack.data_dir))
    assert result.returncode == 0, result.stderr
    referral = json.loads(result.stdout)
    assert referral["status"] == "delivered"
    assert referral["receipt"]["signed_by"] == "hn-senaf"


def test_demo_without_a_running_stack_says_how_to_start_one(tmp_path):
    result = enlace("demo", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"up --data-dir {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_gives_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = enlace("up", "--data-dir", str(tmp_path), "--registry-port", str(port))
    assert result.returncode == 2
    assert f"Port {port} for the registry is already taken" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_sigterm_stops_every_process(tmp_path):
    running = RunningStack(tmp_path, [])
    pids = running.info["pids"]
    assert set(pids) == {"nats", "directory", "registry", "gateway-MX", "gateway-HN"}
    assert all(pid_alive(pid) for pid in pids.values())
    output = running.stop()
    assert running.process.returncode == 0
    assert "Stopped." in output
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [name for name, pid in pids.items() if pid_alive(pid)] == []
    assert not (tmp_path / "stack.json").exists()


def test_restart_on_the_same_data_dir_keeps_tokens_and_keys(tmp_path):
    first = RunningStack(tmp_path, [])
    token, key_file = first.token("MX", "mx-sndif"), tmp_path / "gateways/MX/keys"
    keys_before = sorted(p.read_text() for p in key_file.iterdir())
    first.stop()
    second = RunningStack(tmp_path, [])
    try:
        assert second.token("MX", "mx-sndif") == token
        assert sorted(p.read_text() for p in key_file.iterdir()) == keys_before
        with second.gateway("MX", "mx-sndif") as mx:
            assert mx.get("/v1/referrals").status_code == 200
    finally:
        second.stop()


def test_a_killed_service_is_restarted_and_a_held_one_stays_down(tmp_path):
    import httpx

    running = RunningStack(tmp_path, [])
    try:
        url = running.info["registry"]["url"]
        old_pid = running.info["pids"]["registry"]
        subprocess.run(["kill", "-9", str(old_pid)], check=True)
        def restarted() -> bool:
            info = json.loads((tmp_path / "stack.json").read_text())
            if info["pids"]["registry"] == old_pid:
                return False
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(restarted, timeout=60)

        result = enlace("service", "stop", "registry", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        time.sleep(2)
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            answered = True
        except httpx.HTTPError:
            answered = False
        assert not answered
        result = enlace("service", "start", "registry", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    finally:
        running.stop()
