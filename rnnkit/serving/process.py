"""Run ``rnnkit serve`` in a child process and wait until it answers (recipes, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from types import TracebackType


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m rnnkit serve`` in a child process, as a context manager.

    Args:
        model_name: the served model's name (``/v1/models/<model_name>``).
        model_base_path: folder of integer version sub-folders (TF Serving layout).
        port: REST port; a free one when None.
        host: interface to bind.
        startup_timeout: seconds to wait for ``GET /healthz`` to answer 200.
        extra_args: more ``rnnkit serve`` flags (e.g. ``["--num_batch_threads", "1"]``).

    Example:

    >>> with ServerProcess("sent", "models/sent") as server:  # doctest: +SKIP
    ...     httpx.post(server.url + "/v1/models/sent:predict", json={"instances": ["hi"]})
    """

    def __init__(
        self,
        model_name: str,
        model_base_path: str | os.PathLike,
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 180.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.model_name = model_name
        self.model_base_path = str(model_base_path)
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerProcess:
        """Starts the server and blocks until it is healthy (RuntimeError otherwise)."""
        import httpx

        command = [
            sys.executable, "-m", "rnnkit", "serve",
            "--model_name", self.model_name,
            "--model_base_path", self.model_base_path,
            "--rest_api_port", str(self.port),
            "--host", self.host,
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + self.startup_timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                log = self.process.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"rnnkit serve did not start on {self.url}:\n{log}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Terminates the server (killed if it does not exit within 30 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
