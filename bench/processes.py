"""The processes the benchmarks start: `qa serve` and `chroma run` on free loopback ports, once they answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], probe: str, env: dict[str, str], seconds: float) -> subprocess.Popen[bytes]:
    """Start a server and wait until `probe` answers (or fail, saying so)."""
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(probe, timeout=5):
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {server.returncode}") from None
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{' '.join(command[:3])} did not answer within {seconds:.0f} s")


def qa_serve(env: dict[str, str], seconds: float = 300) -> tuple[subprocess.Popen[bytes], str]:
    """`qa serve` with this environment (QA_DATA_DIR, QA_CHROMA_URL...)."""
    port = free_port()
    command = [sys.executable, "-m", "qa", "serve", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    return start(command, f"{url}/health", env, seconds), url


def chroma_run(path: Path, seconds: float = 600) -> tuple[subprocess.Popen[bytes], str]:
    """`chroma run` over an index's files."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    command = [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    return start(command, f"{url}/api/v2/heartbeat", env, seconds), url
