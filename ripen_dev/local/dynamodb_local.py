"""Run AWS's DynamoDB Local (from the npm package amplify-dynamodb-simulator) on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PACKAGE = "amplify-dynamodb-simulator@2.9.30"


def emulator_dir(cache: Path) -> Path:
    return cache / "dynamodb-local" / "package" / "emulator"


def ensure_installed(cache: Path) -> Path:
    """Download and unpack DynamoDB Local into `cache` once (needs npm); returns its folder."""
    folder = emulator_dir(cache)
    if (folder / "DynamoDBLocal.jar").is_file():
        return folder
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("DynamoDB Local is missing and npm is not installed: run `make deps`")
    target = cache / "dynamodb-local"
    target.mkdir(parents=True, exist_ok=True)
    out = (
        subprocess.run(
            [npm, "pack", PACKAGE, "--silent"],
            cwd=target,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    subprocess.run(["tar", "-xzf", out], cwd=target, check=True)
    (target / out).unlink()
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DynamoDBLocal:
    """`with DynamoDBLocal(cache) as endpoint:` gives an http endpoint for a fresh in-memory engine."""

    def __init__(
        self,
        cache: Path,
        port: int | None = None,
        in_memory: bool = True,
        data_dir: Path | None = None,
        own_session: bool = False,
    ) -> None:
        """`own_session=True` starts Java in a session of its own: a Ctrl-C in the terminal reaches
        only the Python process, which stops its users first and DynamoDB Local last (`ripen dev`)."""
        self.cache = cache
        self.port = port or free_port()
        self.in_memory = in_memory
        self.data_dir = data_dir
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        folder = ensure_installed(self.cache)
        java = shutil.which("java")
        if not java:
            raise RuntimeError("DynamoDB Local needs Java 17+: install a JRE (apt-get install openjdk-17-jre-headless)")
        storage = ["-inMemory"] if self.in_memory else ["-dbPath", str(self.data_dir or self.cache)]
        self.process = subprocess.Popen(
            [
                java,
                "-Xmx512m",
                "-Djava.library.path=./DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
                *storage,
                "-sharedDb",
                "-port",
                str(self.port),
            ],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.own_session,
        )
        self._wait_ready()
        return self.endpoint

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited with code {self.process.returncode}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)  # noqa: S310 - loopback only
                return
            except urllib.error.HTTPError:
                return  # it answers (400 to a bare GET): ready
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("DynamoDB Local did not start within a minute")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
