"""A REST server that speaks TF Serving's API, for rnnkit's raw-text SavedModels.

``rnnkit serve --model_name NAME --model_base_path PATH --rest_api_port PORT`` (the same
flags as ``tensorflow_model_server``) loads the newest integer version under ``PATH``
and answers:

- ``GET /v1/models/NAME`` (and ``/versions/N``): version status.
- ``GET /v1/models/NAME/metadata`` (and ``/versions/N/metadata``): the signature.
- ``POST /v1/models/NAME:predict`` (and ``/versions/N:predict``): ``{"instances": [...]}``
  (row format, answered with ``{"predictions": [...]}``) or ``{"inputs": ...}`` (columnar,
  answered with ``{"outputs": ...}``). Instances are strings, ``{"text": "..."}`` objects
  or ``{"b64": "..."}`` values, as in TF Serving.
- ``GET /healthz``: liveness (``{"status": "ok"}``).

Every bad request (malformed JSON, both or neither of instances/inputs, an empty batch,
wrong types, an unknown model name, version or signature, a body over the size limit)
gets a 4xx with TF Serving's ``{"error": "..."}`` body. Inference runs in a worker thread
(TensorFlow functions are thread-safe), so concurrent requests are served in parallel.
"""

import base64
import binascii
import errno
import gc
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnkit.extras import require
from rnnkit.serving.export import is_version_name

logger = logging.getLogger("rnnkit.serving")

DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_BATCH = 1024
DEFAULT_NUM_BATCH_THREADS = 2
SIGNATURE = "serving_default"

_DTYPES = {
    "string": "DT_STRING",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "bool": "DT_BOOL",
}


class RejectionLog:
    """One log line per rejected request, at most ``max_lines`` per ``window`` seconds.

    Past the limit, rejections are counted; the count is logged when the next window
    opens (``N more rejected requests were not logged``), so a flood of bad requests
    costs a few lines, not megabytes of log.
    """

    def __init__(
        self,
        log: logging.Logger | None = None,
        max_lines: int = 20,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log or logger
        self.max_lines = max_lines
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._lines = 0
        self._suppressed = 0

    def __call__(self, status: int, method: str, path: str, message: str) -> None:
        text = " ".join(str(message).split())
        text = text if len(text) <= 200 else text[:200] + "..."
        where = path if len(path) <= 100 else path[:100] + "..."
        line = f"rejected {method} {where!r} -> {status}: {text}"
        self.admit(lambda: self.log.warning("%s", line))

    def admit(self, emit: Callable[[], None] | None = None) -> bool:
        """Count one rejection; True (after calling ``emit``) when it may be logged."""
        with self._lock:
            now = self.clock()
            if now - self._start >= self.window:
                if self._suppressed:
                    self.log.warning(
                        "%d more rejected requests were not logged in the last %.0f s",
                        self._suppressed,
                        now - self._start,
                    )
                self._start, self._lines, self._suppressed = now, 0, 0
            if self._lines >= self.max_lines:
                self._suppressed += 1
                return False
            self._lines += 1
            if emit is not None:
                emit()
            if self._lines == self.max_lines:
                self.log.warning(
                    "%d rejected requests in %.0f s: further ones are counted, not logged, "
                    "until the window ends",
                    self.max_lines,
                    self.window,
                )
            return True


class _ProtocolErrorFilter(logging.Filter):
    """Puts uvicorn's one-line warnings about requests that are not HTTP ("Invalid HTTP
    request received.") under the same rate limit as the rejected requests."""

    PREFIXES = ("Invalid HTTP request", "Unsupported upgrade request")

    def __init__(self, rejections: RejectionLog) -> None:
        super().__init__()
        self.rejections = rejections

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(self.PREFIXES):
            return self.rejections.admit()
        return True


class _CatchAll:
    """ASGI middleware: an unexpected exception in a request becomes a 500 JSON
    ``{"error": ...}`` and one log line (no traceback in the log)."""

    def __init__(self, app: Any, rejections: RejectionLog) -> None:
        self.app = app
        self.rejections = rejections

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as e:  # noqa: BLE001 - a bug: answer and log one line
            from starlette.responses import JSONResponse

            message = f"Internal error: {type(e).__name__}: {e}"
            self.rejections(500, scope.get("method", "?"), scope.get("path", "?"), message)
            if not started:
                await JSONResponse({"error": message[:300]}, status_code=500)(scope, receive, send)


class RequestError(Exception):
    """A client error: becomes ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def find_versions(base_path: str | os.PathLike) -> list[int]:
    """Integer version folders (1-18 ASCII digits, as TF Serving reads them) under
    ``base_path`` that hold a ``saved_model.pb``."""
    base = Path(base_path)
    if not base.is_dir():
        raise ValueError(f"Model base path {base} does not exist or is not a folder.")
    return sorted(
        int(p.name)
        for p in base.iterdir()
        if p.is_dir() and is_version_name(p.name) and (p / "saved_model.pb").is_file()
    )


def _load_version(tf: Any, folder: Path) -> tuple[Any, dict]:
    """``tf.saved_model.load`` of one version folder and its signatures; a ValueError
    naming the folder if it is truncated, corrupt or has no serving signature."""
    try:
        loaded = tf.saved_model.load(str(folder))
        signatures = dict(loaded.signatures)
    except Exception as e:  # noqa: BLE001 - DecodeError, NotFoundError, OSError, ...
        reason = " ".join(str(e).split())[:300] or type(e).__name__
        raise ValueError(
            f"version folder {folder} is corrupt or incomplete ({type(e).__name__}: "
            f"{reason}), expected a complete SavedModel"
        ) from None
    if SIGNATURE not in signatures:
        raise ValueError(
            f"version folder {folder} has no {SIGNATURE!r} signature, expected a SavedModel "
            "exported by rnnkit (or with a serving_default signature)"
        )
    return loaded, signatures


class LoadedModel:
    """The newest healthy version of a SavedModel under ``base_path``, ready to call.

    A newer version that fails to load (truncated ``saved_model.pb`` or variables, no
    ``serving_default`` signature) is skipped with a warning (``skipped`` lists why)
    when an older one loads; when none loads, a one-line ``ValueError`` names the
    newest version folder and what is wrong with it.
    """

    def __init__(self, name: str, base_path: str | os.PathLike) -> None:
        import tensorflow as tf

        self.name = name
        self.base_path = Path(base_path)
        versions = find_versions(base_path)
        if not versions:
            raise ValueError(
                f"No servable version under {self.base_path}: expected integer "
                "sub-folders (e.g. 1/) holding saved_model.pb (TF Serving's layout)."
            )
        self._tf = tf
        self.skipped: list[str] = []
        for version in reversed(versions):
            try:
                self.loaded, self.signatures = _load_version(tf, self.base_path / str(version))
            except ValueError as e:
                if version == versions[0]:
                    raise ValueError(
                        str(e)
                        if not self.skipped
                        else f"{self.skipped[0]}; older versions "
                        f"{sorted(versions[:-1])} do not load either"
                    ) from None
                self.skipped.append(str(e))
                logger.warning("%s; skipped, serving an older version", e)
                continue
            self.version = version
            break
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        for sig_name, fn in self.signatures.items():
            _, kwargs = fn.structured_input_signature
            self.inputs[sig_name] = kwargs
            self.outputs[sig_name] = fn.structured_outputs

    # ------------------------------------------------------------------ inference
    def predict(self, columns: dict[str, list[Any]], signature: str = SIGNATURE) -> dict:
        """Run ``signature`` on named input columns; NumPy outputs by name."""
        tf = self._tf
        fn = self.signatures[signature]
        feeds = {}
        for name, spec in self.inputs[signature].items():
            try:
                feeds[name] = tf.constant(columns[name], dtype=spec.dtype)
            except (TypeError, ValueError) as e:
                raise RequestError(
                    f"Input '{name}': cannot convert to {spec.dtype.name}: {e}"
                ) from None
        try:
            out = fn(**feeds)
        except tf.errors.InvalidArgumentError as e:
            raise RequestError(e.message) from None
        return {k: v.numpy() for k, v in out.items()}

    # -------------------------------------------------------------------- metadata
    def status(self) -> dict:
        return {
            "model_version_status": [
                {
                    "version": str(self.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def metadata(self) -> dict:
        def tensor_info(spec: Any, name: str) -> dict:
            shape = spec.shape
            return {
                "dtype": _DTYPES.get(spec.dtype.name, "DT_INVALID"),
                "tensor_shape": {
                    "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in shape]
                    if shape.rank is not None
                    else [],
                    "unknown_rank": shape.rank is None,
                },
                "name": name,
            }

        sigs = {}
        for sig in self.signatures:
            sigs[sig] = {
                "inputs": {k: tensor_info(s, f"{sig}_{k}:0") for k, s in self.inputs[sig].items()},
                "outputs": {
                    k: tensor_info(s, f"StatefulPartitionedCall:{i}")
                    for i, (k, s) in enumerate(sorted(self.outputs[sig].items()))
                },
                "method_name": "tensorflow/serving/predict",
            }
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": sigs}},
        }


class MicroBatcher:
    """Merges concurrent predict calls into one batched call of the signature.

    Requests waiting while a batch runs are concatenated (up to ``max_batch`` rows) and
    answered from one call, which is what keeps latency flat under many concurrent
    clients. If a merged call fails, each request is retried alone so one request's
    error never reaches another's response.
    """

    def __init__(self, model: LoadedModel, max_batch: int, workers: int = 2) -> None:
        import asyncio

        self.model = model
        self.max_batch = max_batch
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.tasks = [self.loop.create_task(self._worker()) for _ in range(workers)]

    async def predict(self, columns: dict[str, list], signature: str) -> dict:
        future = self.loop.create_future()
        await self.queue.put((columns, signature, future))
        return await future

    async def _worker(self) -> None:
        import asyncio

        from starlette.concurrency import run_in_threadpool

        while True:
            first = await self.queue.get()
            batch = [first]
            rows = len(next(iter(first[0].values())))
            while not self.queue.empty():
                nxt = self.queue.get_nowait()
                n = len(next(iter(nxt[0].values())))
                if nxt[1] != first[1] or rows + n > self.max_batch:
                    self.queue.put_nowait(nxt)  # goes to the next batch
                    break
                batch.append(nxt)
                rows += n
            try:
                await self._run(batch, run_in_threadpool)
            except asyncio.CancelledError:  # pragma: no cover - shutdown
                raise
            except Exception as e:  # noqa: BLE001 - delivered to the waiting requests
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)

    async def _run(self, batch: list, run_in_threadpool: Any) -> None:
        import numpy as np

        signature = batch[0][1]
        if len(batch) > 1:
            names = list(batch[0][0])
            merged = {n: [v for cols, _, _ in batch for v in cols[n]] for n in names}
            try:
                out = await run_in_threadpool(self.model.predict, merged, signature)
            except Exception:  # noqa: BLE001 - retry one by one below
                out = None
            if out is not None:
                start = 0
                for cols, _, fut in batch:
                    n = len(cols[names[0]])
                    part = {k: np.asarray(v[start : start + n]) for k, v in out.items()}
                    start += n
                    if not fut.done():
                        fut.set_result(part)
                return
        for cols, sig, fut in batch:
            try:
                result = await run_in_threadpool(self.model.predict, cols, sig)
            except Exception as e:  # noqa: BLE001
                if not fut.done():
                    fut.set_exception(e)
                continue
            if not fut.done():
                fut.set_result(result)


# ------------------------------------------------------------- request parsing


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (``list`` -> ``array``)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _decode_value(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise RequestError(f"{where}: invalid b64 string: {e}") from None
    raise RequestError(
        f'{where}: expected a string (or {{"b64": ...}}), got {type(value).__name__}: '
        f"{json.dumps(value)[:80]}"
    )


def parse_request(body: Any, input_names: list[str], max_batch: int) -> tuple[str, dict, str]:
    """Validate a predict body; returns (format, columns by input name, signature)."""
    if not isinstance(body, dict):
        raise RequestError("Request body must be a JSON object with 'instances' or 'inputs'.")
    signature = body.get("signature_name", SIGNATURE)
    if not isinstance(signature, str):
        raise RequestError(f"'signature_name' is a JSON {_json_type(signature)}, expected a string")
    unknown = sorted(set(body) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise RequestError(f"Unknown request keys {unknown}; expected 'instances' or 'inputs'.")
    has_i, has_c = "instances" in body, "inputs" in body
    if has_i == has_c:
        raise RequestError(
            "Missing 'inputs' or 'instances' key"
            if not has_i
            else "Request contains both 'instances' and 'inputs'; use one of them."
        )
    single = input_names[0] if len(input_names) == 1 else None
    columns: dict[str, list[str]] = {n: [] for n in input_names}
    if has_i:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise RequestError("'instances' must be a JSON list.")
        if not rows:
            raise RequestError("'instances' is an empty list; send at least one instance.")
        if len(rows) > max_batch:
            raise RequestError(f"Batch of {len(rows)} instances exceeds the limit {max_batch}.")
        for i, row in enumerate(rows):
            if isinstance(row, dict) and set(row) != {"b64"}:
                if set(row) != set(input_names):
                    raise RequestError(
                        f"instances[{i}] has keys {sorted(row)}; expected {input_names}."
                    )
                for n in input_names:
                    columns[n].append(_decode_value(row[n], f"instances[{i}].{n}"))
            elif single is not None:
                columns[single].append(_decode_value(row, f"instances[{i}]"))
            else:
                raise RequestError(f"instances[{i}] must be an object with keys {input_names}.")
        return "row", columns, signature
    cols = body["inputs"]
    if single is not None and not isinstance(cols, dict):
        cols = {single: cols}
    if not isinstance(cols, dict) or set(cols) != set(input_names):
        got = sorted(cols) if isinstance(cols, dict) else type(cols).__name__
        raise RequestError(f"'inputs' must hold the named inputs {input_names}; got {got}.")
    for n in input_names:
        values = cols[n]
        if isinstance(values, str | dict):
            values = [values]  # a scalar input: a batch of one
        if not isinstance(values, list):
            raise RequestError(f"inputs.{n} must be a list of strings.")
        if not values:
            raise RequestError(f"inputs.{n} is an empty list; send at least one value.")
        if len(values) > max_batch:
            raise RequestError(f"Batch of {len(values)} inputs exceeds the limit {max_batch}.")
        columns[n] = [_decode_value(v, f"inputs.{n}[{i}]") for i, v in enumerate(values)]
    return "columnar", columns, signature


def _jsonable(array: Any) -> Any:
    import numpy as np

    if array.dtype == object or array.dtype.kind == "S":
        return (
            np.vectorize(
                lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b),
                otypes=[object],
            )(array).tolist()
            if array.size
            else array.tolist()
        )
    return array.tolist()


def format_response(fmt: str, outputs: dict) -> dict:
    names = sorted(outputs)
    values = {k: _jsonable(outputs[k]) for k in names}
    if fmt == "columnar":
        return {"outputs": values[names[0]] if len(names) == 1 else values}
    n = len(next(iter(values.values())))
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    return {"predictions": [{k: values[k][i] for k in names} for i in range(n)]}


# ------------------------------------------------------------------------- app


def create_app(
    model_name: str,
    model_base_path: str | os.PathLike,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    model: LoadedModel | None = None,
    batching: bool = True,
    num_batch_threads: int | None = None,
    rejection_log: RejectionLog | None = None,
) -> Any:
    """The FastAPI application serving ``model_name`` from ``model_base_path``.

    Args:
        model_name: the ``NAME`` in the URLs.
        model_base_path: folder of integer version folders; the newest is served.
        max_request_bytes: larger bodies get 413.
        max_batch: most instances per request (and per merged batch).
        model: an already loaded model (else loaded from ``model_base_path``).
        batching: merge concurrent requests into one call (:class:`MicroBatcher`).
        num_batch_threads: merged calls that run at once (default
            ``DEFAULT_NUM_BATCH_THREADS``).
        rejection_log: where rejected requests are logged (default: a
            :class:`RejectionLog` on the ``rnnkit.serving`` logger).

    Every rejected request gets ``{"error": ...}`` with its 4xx status and one log line
    (rate-limited); an unexpected failure gets a 500 the same way, never a traceback.
    """
    import asyncio

    require("fastapi", "The rnnkit REST server")
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    threads = DEFAULT_NUM_BATCH_THREADS if num_batch_threads is None else num_batch_threads
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"num_batch_threads must be a positive integer, got {threads!r}.")
    loaded = model or LoadedModel(model_name, model_base_path)
    batchers: dict[Any, MicroBatcher] = {}

    def batcher() -> MicroBatcher:
        loop = asyncio.get_running_loop()  # one per event loop (TestClient may use several)
        if loop not in batchers:
            batchers.clear()
            batchers[loop] = MicroBatcher(loaded, max_batch, threads)
        return batchers[loop]

    app = FastAPI(
        title=f"rnnkit serving: {model_name}",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # "/healthz/" is a 404 JSON error, not a 307 redirect
    )
    app.state.model = loaded
    rejections = RejectionLog() if rejection_log is None else rejection_log
    app.state.rejections = rejections
    app.add_middleware(_CatchAll, rejections=rejections)

    def error(request: Request, message: str, status: int) -> JSONResponse:
        rejections(status, request.method, request.url.path, message)
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return error(request, exc.message, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(request, str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(request, str(exc), 400)

    def check(name: str, version: str | None) -> None:
        if name != loaded.name:
            raise RequestError(f"Servable not found for request: Latest({name})", 404)
        if version is not None:
            if not is_version_name(version):
                shown = version if len(version) <= 40 else version[:40] + "..."
                raise RequestError(
                    f"Invalid version {shown!r}: expected an integer of 1-18 ASCII digits.", 400
                )
            if int(version) != loaded.version:
                raise RequestError(
                    f"Servable not found for request: Specific({name}, {int(version)})", 404
                )

    def split_path(path: str) -> tuple[str, str | None, str]:
        """``NAME[/versions/N][/metadata|:verb]`` -> (name, version, action)."""
        action = ""
        head = path
        if ":" in path.rsplit("/", 1)[-1]:
            head, action = path.rsplit(":", 1)
        elif path.endswith("/metadata"):
            head, action = path[: -len("/metadata")], "metadata"
        parts = head.split("/")
        if len(parts) == 1:
            return parts[0], None, action
        if len(parts) == 3 and parts[1] == "versions":
            return parts[0], parts[2], action
        if len(parts) == 3 and parts[1] == "labels":
            raise RequestError("Version labels are not supported; use /versions/N.", 404)
        raise RequestError(f"Malformed request path: /v1/models/{path}", 404)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "model": loaded.name, "version": str(loaded.version)}

    @app.get("/v1/models/{path:path}")
    async def get_model(path: str) -> JSONResponse:
        name, version, action = split_path(path)
        check(name, version)
        if action == "metadata":
            return JSONResponse(loaded.metadata())
        if action:
            raise RequestError(f"Unsupported GET action {action!r}; use POST for :{action}.", 405)
        return JSONResponse(loaded.status())

    @app.post("/v1/models/{path:path}")
    async def post_model(path: str, request: Request) -> JSONResponse:
        name, version, action = split_path(path)
        if action != "predict":
            if action in ("classify", "regress"):
                raise RequestError(f"':{action}' is not supported; use ':predict'.", 400)
            raise RequestError(f"Unsupported POST path /v1/models/{path}; use ':predict'.", 404)
        check(name, version)
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
                raise RequestError("Invalid Content-Length header.", 400)
            if int(declared) > max_request_bytes:
                raise RequestError(
                    f"Request body of {declared} bytes exceeds the limit of "
                    f"{max_request_bytes} bytes.",
                    413,
                )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_bytes:
                raise RequestError(
                    f"Request body exceeds the limit of {max_request_bytes} bytes.", 413
                )
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, deep nesting
            raise RequestError(f"JSON Parse error: {e}") from None
        sig_inputs = loaded.inputs
        signature = body.get("signature_name", SIGNATURE) if isinstance(body, dict) else SIGNATURE
        if not isinstance(signature, str):
            raise RequestError(
                f"'signature_name' is a JSON {_json_type(signature)}, expected a string"
            )
        if signature not in sig_inputs:
            raise RequestError(
                f'Serving signature name: "{signature[:200]}" not found in signature def', 400
            )
        input_names = sorted(sig_inputs[signature])
        fmt, columns, signature = parse_request(body, input_names, max_batch)
        if batching:
            outputs = await batcher().predict(columns, signature)
        else:
            outputs = await run_in_threadpool(loaded.predict, columns, signature)
        return JSONResponse(format_response(fmt, outputs))

    return app


def check_port(port: Any) -> int:
    """``port`` as an int in 1-65535, else a ValueError."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"--rest_api_port is {port!r}, expected an integer from 1 to 65535")
    return port


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound (not yet listening) to ``host:port``; a one-line ValueError
    when the port is out of range, in use or the host cannot be bound."""
    check_port(port)
    # as uvicorn binds: IPv6 when the host is an IPv6 address, IPv4 otherwise
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (socket.gaierror, UnicodeError) as e:
        sock.close()
        raise ValueError(
            f"--host {host!r} cannot be resolved ({e}), expected an interface address such "
            "as 127.0.0.1 or 0.0.0.0"
        ) from None
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ValueError(
                f"port {port} on {host} is already in use, expected a free port (--rest_api_port)"
            ) from None
        raise ValueError(
            f"cannot listen on {host}:{port} ({e.strerror}), expected a local interface "
            "address and a port this user may bind"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(
    model_name: str,
    model_base_path: str | os.PathLike,
    rest_api_port: int = 8501,
    host: str = "127.0.0.1",
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    log_level: str = "info",
    batching: bool = True,
    num_batch_threads: int | None = None,
    freeze_gc: bool = True,
) -> None:
    """Load the newest healthy version and serve it with uvicorn until interrupted.

    The port is bound first (out of range, in use: a ``ValueError`` before anything is
    loaded or printed); the "Serving ... at ..." line is printed only once the model is
    loaded and the port is ours. Newer versions that do not load are skipped with a
    warning (:class:`LoadedModel`).

    Args:
        model_name, model_base_path, max_request_bytes, max_batch, batching,
            num_batch_threads: as in :func:`create_app`.
        rest_api_port, host: where to listen.
        log_level: uvicorn's log level.
        freeze_gc: after loading, move every object alive to the garbage collector's
            permanent generation (``gc.freeze()``), so that full collections during
            serving skip the model's objects instead of pausing all requests.
    """
    uvicorn = require("uvicorn", "rnnkit serve")

    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("rnnkit serve: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
    sock = bind_socket(host, rest_api_port)
    try:
        app = create_app(
            model_name,
            model_base_path,
            max_request_bytes,
            max_batch,
            batching=batching,
            num_batch_threads=num_batch_threads,
        )
        if freeze_gc:
            # After loading, the process holds ~500k long-lived Python objects (TensorFlow,
            # Keras, the model); without this every full collection walks them all and
            # stalls every in-flight request (benchmarks/RESULTS.md, serve_load).
            gc.collect()
            gc.freeze()
        print(
            f"Serving {model_name} version {app.state.model.version} from {model_base_path} "
            f"at http://{host}:{rest_api_port}/v1/models/{model_name}",
            flush=True,
        )
        config = uvicorn.Config(
            app, host=host, port=rest_api_port, log_level=log_level, access_log=False
        )
        # after uvicorn.Config, which configures uvicorn's loggers
        noise = _ProtocolErrorFilter(app.state.rejections)
        logging.getLogger("uvicorn.error").addFilter(noise)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            logging.getLogger("uvicorn.error").removeFilter(noise)
    finally:
        sock.close()
