"""Run ``rnnkit serve`` in a child process and wait until it answers (recipes, benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from types import TracebackType
from typing import IO

#: the last this many bytes of the server's stderr are kept (``ServerProcess.log``)
LOG_TAIL_BYTES = 1 << 20


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

    The server's stderr is read continuously by a thread (a full pipe would otherwise
    stall a long-running server): :attr:`log` is its last ``LOG_TAIL_BYTES`` bytes as
    text, :attr:`log_bytes` how many bytes it wrote in all.

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
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.log_bytes = 0
        self._reader: threading.Thread | None = None

    @property
    def log(self) -> str:
        """The last ``LOG_TAIL_BYTES`` bytes of the server's stderr (complete once stopped)."""
        return b"".join(self._tail).decode("utf-8", errors="replace")

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for chunk in iter(lambda: stream.readline(65536), b""):
            self.log_bytes += len(chunk)
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size > LOG_TAIL_BYTES and len(self._tail) > 1:
                self._tail_size -= len(self._tail.popleft())

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerProcess:
        """Starts the server and blocks until it is healthy (RuntimeError otherwise)."""
        from rnnkit.extras import require

        httpx = require("httpx", "ServerProcess (it checks the server's health over HTTP)")

        command = [
            sys.executable, "-m", "rnnkit", "serve",
            "--model_name", self.model_name,
            "--model_base_path", self.model_base_path,
            "--rest_api_port", str(self.port),
            "--host", self.host,
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._tail.clear()
        self._tail_size = self.log_bytes = 0
        self._reader = threading.Thread(
            target=self._read_stderr, args=(self.process.stderr,), daemon=True
        )
        self._reader.start()
        deadline = time.time() + self.startup_timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"rnnkit serve did not start on {self.url}:\n{self.log[-2000:]}")
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
        if self._reader is not None:
            self._reader.join(timeout=10)  # the rest of the log, up to the process's exit

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
