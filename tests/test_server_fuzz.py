"""Issue 21: fuzz a running ``rnnkit serve`` (a real uvicorn server in a child process on
127.0.0.1) with random malformed requests - random JSON structures, random bytes on the
socket, random paths and methods - and check: never a 5xx, the server stays up, its log
has no traceback and stays small (rate-limited), and a good request gets the same
answer before, during and after."""

from __future__ import annotations

import json
import random
import socket
import string
from concurrent.futures import ThreadPoolExecutor

import httpx
import keras
import pytest

from rnnkit.layers import GRU
from rnnkit.serving import ServerProcess
from rnnkit.serving.export import TextModel, export
from rnnkit.text.pipeline import TextPipeline

TEXTS = ["I love this video", "terrible, just awful!!", "meh @someone http://x.y", "ok 😂"]
GOOD = {"instances": TEXTS}
SEED = 21


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    keras.utils.set_random_seed(5)
    base = tmp_path_factory.mktemp("fuzz") / "sent"
    pipe = TextPipeline.fit(TEXTS * 2, max_length=8)
    ids = keras.Input((8,), dtype="int32")
    x = keras.layers.Embedding(len(pipe.vocabulary), 8, mask_zero=True)(ids)
    out = keras.layers.Dense(3, activation="softmax")(GRU(8)(x))
    export(TextModel(keras.Model(ids, out), pipe, ["neg", "neu", "pos"]), base, version=2)
    args = ["--max_request_bytes", "20000", "--max_batch", "16"]
    with ServerProcess("sent", base, extra_args=args) as proc:
        yield proc


# ----------------------------------------------------------------- generators

KEYS = ["instances", "inputs", "signature_name", "text", "b64", "serving_default", "", "x" * 50]


def random_string(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(12)))
    if kind == 1:  # any code point, including lone surrogates and controls
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(6)))
    if kind == 2:
        return rng.choice(KEYS)
    if kind == 3:
        return rng.choice(["²", "٢", "١٢", "-1", "1e3", "0x10", " 3", "3 ", "9" * 40])
    if kind == 4:
        return "".join(rng.choice("A/=+") for _ in range(rng.randrange(8)))  # b64-ish
    return rng.choice(TEXTS)


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**70, 1.5, -0.0, 1e308, float("nan"), float("inf")])
    if kind in (3, 4):
        return random_string(rng)
    if kind in (5, 6):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        random_string(rng) if rng.random() < 0.3 else rng.choice(KEYS): random_json(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def random_body(rng: random.Random) -> bytes:
    """A predict body: mostly near-valid JSON objects, sometimes plain garbage."""
    kind = rng.randrange(8)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 1:
        return b"[" * rng.randrange(1, 3000)
    if kind == 2:  # an over-long body (the limit is 20000 bytes)
        return json.dumps({"instances": ["a" * 30000]}).encode()
    body = {rng.choice(["instances", "inputs"]): random_json(rng)}
    if rng.random() < 0.5:
        body["signature_name"] = random_json(rng) if rng.random() < 0.7 else "serving_default"
    if rng.random() < 0.2:
        body[random_string(rng)] = random_json(rng)
    text = json.dumps(body, allow_nan=True)
    if kind == 3 and text:  # truncated
        text = text[: rng.randrange(len(text))]
    return text.encode("utf-8", "surrogatepass")


PATH_PARTS = [
    "/v1/models/sent",
    "/v1/models/sent/versions/2",
    "/v1/models/sent/versions/",
    "/v1/models/other",
    "/v1/models/",
    "/v1/models/sent/labels/x",
    "/v1",
    "/",
    "/healthz",
    "/docs",
    "/openapi.json",
]
SUFFIXES = [":predict", ":classify", ":regress", ":", "::predict", "/metadata", "", ":x"]


def random_path(rng: random.Random) -> str:
    path = rng.choice(PATH_PARTS)
    if path.endswith("versions/") or rng.random() < 0.2:
        path = "/v1/models/sent/versions/" + random_string(rng)
    path += rng.choice(SUFFIXES)
    if rng.random() < 0.2:
        path += "/" + random_string(rng)
    return path


# ---------------------------------------------------------------------- senders


def send_http(client: httpx.Client, rng: random.Random) -> int | None:
    method = rng.choice(["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
    path = random_path(rng)
    headers = {}
    if rng.random() < 0.3:
        headers["content-type"] = rng.choice(["text/plain", "application/x-www-form-urlencoded"])
    try:
        r = client.request(method, path, content=random_body(rng), headers=headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError):
        return None  # the client itself refused the URL: nothing reached the server
    if r.status_code != 200 and method != "HEAD":
        assert r.headers.get("content-type") == "application/json", (
            method,
            path,
            r.status_code,
            r.text[:200],
        )
        body = r.json()
        assert set(body) == {"error"} and isinstance(body["error"], str), (path, r.text[:200])
    return r.status_code


def send_raw(host: str, port: int, rng: random.Random) -> int | None:
    """Random bytes (sometimes behind a plausible request line) on a fresh socket."""
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    prefix = rng.choice(
        [b"", b"POST /v1/models/sent:predict HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n"]
    )
    payload = prefix + junk + (b"\r\n\r\n" if rng.random() < 0.7 else b"")
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(payload)
        s.settimeout(0.5)
        try:
            head = s.recv(64)
        except (TimeoutError, ConnectionResetError):
            return None
    if head.startswith(b"HTTP/1.1 "):
        return int(head[9:12])
    return None


def test_random_malformed_requests_never_5xx_and_good_requests_unchanged(server):
    rng = random.Random(SEED)
    url = server.url
    with httpx.Client(base_url=url, timeout=30) as client:
        reference = client.post("/v1/models/sent:predict", json=GOOD)
        assert reference.status_code == 200
        statuses: list[int | None] = []
        for i in range(500):
            statuses.append(send_http(client, rng))
            if i % 50 == 49:
                again = client.post("/v1/models/sent:predict", json=GOOD)
                assert again.status_code == 200 and again.json() == reference.json()
                body = b'{"instances": ["' + b"a" * rng.randrange(20_000, 40_000) + b'"]}'
                big = client.post("/v1/models/sent:predict", content=body)
                assert big.status_code == 413 and "error" in big.json()
        for _ in range(60):
            statuses.append(send_raw(server.host, server.port, rng))

        # concurrent: bad requests from 4 threads while good ones are answered
        def mixed(i: int) -> tuple[int | None, dict | None]:
            local = random.Random(SEED * 1000 + i)
            with httpx.Client(base_url=url, timeout=30) as c:
                if i % 4 == 0:
                    r = c.post("/v1/models/sent:predict", json=GOOD)
                    return r.status_code, r.json()
                return send_http(c, local), None

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(mixed, range(80)))
        for status, body in results:
            statuses.append(status)
            if body is not None:
                assert status == 200
                for got, want in zip(body["predictions"], reference.json()["predictions"]):
                    assert got["label"] == want["label"]
                    assert (
                        max(abs(a - b) for a, b in zip(got["probabilities"], want["probabilities"]))
                        < 1e-5
                    )
        after = client.post("/v1/models/sent:predict", json=GOOD)
        assert after.status_code == 200 and after.json() == reference.json()
        assert client.get("/healthz").json()["status"] == "ok"
    five_xx = [s for s in statuses if s is not None and s >= 500]
    assert not five_xx, five_xx
    seen = {s for s in statuses if s is not None}
    assert {400, 404, 405} <= seen, seen  # the fuzz did reach every kind of rejection
    assert server.process.poll() is None  # still running
    server.stop()
    log = server.log
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert "rejected POST" in log  # one line per rejected request...
    assert "further ones are counted, not logged" in log  # ...up to the rate limit
    noise = [line for line in log.splitlines() if "rejected " in line or "Invalid HTTP" in line]
    assert len(noise) < 150 and server.log_bytes < 200_000  # ~900 bad requests: not MBs
