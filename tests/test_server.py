"""TF-Serving-compatible REST server: API shapes, bad requests, concurrency."""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient

from rnnkit.layers import GRU
from rnnkit.serving.export import TextModel, export
from rnnkit.serving.server import LoadedModel, create_app
from rnnkit.text.pipeline import TextPipeline

TEXTS = ["I love this video", "terrible, just awful!!", "meh @someone http://x.y", "ok 😂"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    keras.utils.set_random_seed(3)
    base = tmp_path_factory.mktemp("models") / "sent"
    pipe = TextPipeline.fit(TEXTS * 2, max_length=8)
    ids = keras.Input((8,), dtype="int32")
    x = keras.layers.Embedding(len(pipe.vocabulary), 8, mask_zero=True)(ids)
    x = GRU(8)(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    tm = TextModel(keras.Model(ids, out), pipe, ["neg", "neu", "pos"])
    export(tm, base, version=1)
    export(tm, base, version=3)  # the newest version is served
    loaded = LoadedModel("sent", base)
    app = create_app("sent", base, max_request_bytes=4096, max_batch=64, model=loaded)
    return tm, base, app


@pytest.fixture(scope="module")
def client(served):
    with TestClient(served[2], raise_server_exceptions=False) as c:
        yield c


def test_status_metadata_health(client):
    r = client.get("/v1/models/sent")
    assert r.status_code == 200
    assert r.json() == {
        "model_version_status": [
            {
                "version": "3",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert client.get("/v1/models/sent/versions/3").status_code == 200
    meta = client.get("/v1/models/sent/metadata").json()
    assert meta["model_spec"] == {"name": "sent", "signature_name": "", "version": "3"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["text"]["dtype"] == "DT_STRING"
    assert sig["inputs"]["text"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert set(sig["outputs"]) == {"label", "probabilities"}
    assert sig["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert client.get("/healthz").json()["status"] == "ok"


def test_predict_row_and_columnar_match_python(served, client):
    tm = served[0]
    expected = tm.predict(TEXTS)
    r = client.post("/v1/models/sent:predict", json={"instances": TEXTS})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["label"] for p in preds] == list(expected["label"])
    np.testing.assert_allclose(
        [p["probabilities"] for p in preds], expected["probabilities"], atol=1e-5
    )
    # named-input rows, b64 values and an explicit version / signature
    r = client.post(
        "/v1/models/sent/versions/3:predict",
        json={
            "signature_name": "serving_default",
            "instances": [{"text": TEXTS[0]}, {"text": {"b64": "b2sg8J+YgA=="}}],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][0]["label"] == expected["label"][0]
    # columnar in, columnar out
    for inputs in (TEXTS, {"text": TEXTS}):
        r = client.post("/v1/models/sent:predict", json={"inputs": inputs})
        assert r.status_code == 200, r.text
        out = r.json()["outputs"]
        assert out["label"] == list(expected["label"])
        np.testing.assert_allclose(out["probabilities"], expected["probabilities"], atol=1e-5)


BAD = [
    ("malformed json", "/v1/models/sent:predict", b'{"instances": ["a"', 400),
    ("deep nesting", "/v1/models/sent:predict", b"[" * 1500 + b"]" * 1500, 400),
    ("not an object", "/v1/models/sent:predict", b'["a"]', 400),
    ("both keys", "/v1/models/sent:predict", b'{"instances": ["a"], "inputs": ["a"]}', 400),
    ("neither key", "/v1/models/sent:predict", b'{"texts": ["a"]}', 400),
    ("empty object", "/v1/models/sent:predict", b"{}", 400),
    ("empty batch", "/v1/models/sent:predict", b'{"instances": []}', 400),
    ("empty columnar", "/v1/models/sent:predict", b'{"inputs": {"text": []}}', 400),
    ("number instance", "/v1/models/sent:predict", b'{"instances": [1, 2]}', 400),
    ("null instance", "/v1/models/sent:predict", b'{"instances": [null]}', 400),
    ("nested list", "/v1/models/sent:predict", b'{"instances": [["a"]]}', 400),
    ("instances not list", "/v1/models/sent:predict", b'{"instances": "abc"}', 400),
    ("wrong input name", "/v1/models/sent:predict", b'{"instances": [{"txt": "a"}]}', 400),
    ("wrong column name", "/v1/models/sent:predict", b'{"inputs": {"txt": ["a"]}}', 400),
    ("bad b64", "/v1/models/sent:predict", b'{"instances": [{"b64": "!!"}]}', 400),
    (
        "bad signature",
        "/v1/models/sent:predict",
        b'{"signature_name": "x", "instances": ["a"]}',
        400,
    ),
    (
        "signature type",
        "/v1/models/sent:predict",
        b'{"signature_name": 3, "instances": ["a"]}',
        400,
    ),
    (
        "signature list",
        "/v1/models/sent:predict",
        b'{"instances": ["a"], "signature_name": ["x"]}',
        400,
    ),
    (
        "signature object",
        "/v1/models/sent:predict",
        b'{"instances": ["a"], "signature_name": {}}',
        400,
    ),
    (
        "signature null",
        "/v1/models/sent:predict",
        b'{"signature_name": null, "inputs": ["a"]}',
        400,
    ),
    (
        "superscript version",
        "/v1/models/sent/versions/\u00b2:predict",
        b'{"instances": ["a"]}',
        400,
    ),
    ("arabic-indic 3", "/v1/models/sent/versions/\u0663:predict", b'{"instances": ["a"]}', 400),
    ("5000-digit version", "/v1/models/sent/versions/" + "9" * 5000 + ":predict", b"{}", 400),
    ("signed version", "/v1/models/sent/versions/+3:predict", b'{"instances": ["a"]}', 400),
    ("lone surrogate", "/v1/models/sent:predict", b'{"instances": ["\\ud800"]}', 400),
    ("invalid utf-8", "/v1/models/sent:predict", b'{"instances": ["\xff\xfe"]}', 400),
    ("too many", "/v1/models/sent:predict", json.dumps({"instances": ["a"] * 65}).encode(), 400),
    ("unknown model", "/v1/models/other:predict", b'{"instances": ["a"]}', 404),
    ("unknown version", "/v1/models/sent/versions/2:predict", b'{"instances": ["a"]}', 404),
    ("bad version", "/v1/models/sent/versions/x:predict", b'{"instances": ["a"]}', 400),
    ("unknown verb", "/v1/models/sent:explode", b'{"instances": ["a"]}', 404),
    ("classify", "/v1/models/sent:classify", b'{"instances": ["a"]}', 400),
    ("too large", "/v1/models/sent:predict", b'{"instances": ["' + b"a" * 5000 + b'"]}', 413),
]


@pytest.mark.parametrize("name,path,body,status", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_4xx_error(client, name, path, body, status):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, (name, r.status_code, r.text)
    assert set(r.json()) == {"error"} and r.json()["error"]


def test_bad_gets_and_server_survives(client):
    for path, status in [
        ("/v1/models/sent/versions/\u0663", 400),
        ("/v1/models/sent/versions/" + "3" * 19 + "/metadata", 400),
        ("/v1/models/other", 404),
        ("/v1/models/sent/versions/9", 404),
        ("/v1/models/sent/versions/9/metadata", 404),
        ("/v1/models/sent/labels/stable", 404),
        ("/v1/nothing", 404),
    ]:
        r = client.get(path)
        assert r.status_code == status, (path, r.text)
        assert "error" in r.json()
    # chunked body without Content-Length over the limit
    r = client.post("/v1/models/sent:predict", content=iter([b'{"instances": ["', b"a" * 5000]))
    assert r.status_code == 413
    assert client.post("/v1/models/sent:predict", json={"instances": ["fine"]}).status_code == 200


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uvicorn_concurrent_clients(served):
    import uvicorn

    tm, _, app = served
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started
        url = f"http://127.0.0.1:{port}/v1/models/sent:predict"
        expected = tm.predict(TEXTS)["label"].tolist()

        def call(i):
            with httpx.Client(timeout=30) as c:
                if i % 5 == 4:  # interleave bad requests
                    return c.post(url, content=b"{bad").status_code, None
                r = c.post(url, json={"instances": TEXTS})
                return r.status_code, [p["label"] for p in r.json()["predictions"]]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call, range(40)))
        for i, (status, labels) in enumerate(results):
            if i % 5 == 4:
                assert status == 400
            else:
                assert status == 200 and labels == expected
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_micro_batching_merges_concurrent_requests(served):
    """Concurrent requests share model calls and each gets exactly its own rows."""
    tm, base, _ = served
    loaded = LoadedModel("sent", base)
    calls = []
    original = loaded.predict

    def counting(columns, signature="serving_default"):
        calls.append(len(columns["text"]))
        time.sleep(0.05)  # a slow model: requests pile up behind the running batch
        return original(columns, signature)

    loaded.predict = counting
    app = create_app("sent", base, model=loaded)
    texts = [f"text number {i} {TEXTS[i % 4]}" for i in range(24)]
    expected = tm.predict(texts)["probabilities"]
    with TestClient(app) as c:

        def call(i):
            r = c.post("/v1/models/sent:predict", json={"instances": [texts[i]]})
            return np.array(r.json()["predictions"][0]["probabilities"])

        with ThreadPoolExecutor(max_workers=12) as pool:
            got = list(pool.map(call, range(24)))
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-5)
    assert sum(calls) == 24 and len(calls) < 24 and max(calls) > 1


def test_python_m_rnnkit_serve_in_a_child_process(served, tmp_path):
    """`python -m rnnkit serve` with TF Serving's flags, driven by ServerProcess."""
    from rnnkit.serving import ServerProcess

    tm, base, _ = served
    with ServerProcess("sent", base, extra_args=["--num_batch_threads", "1"]) as server:
        status = httpx.get(f"{server.url}/v1/models/sent", timeout=30).json()
        assert status["model_version_status"][0]["version"] == "3"
        r = httpx.post(
            f"{server.url}/v1/models/sent:predict", json={"instances": TEXTS}, timeout=60
        )
        assert r.status_code == 200
        got = [p["label"] for p in r.json()["predictions"]]
        assert got == tm.predict(TEXTS)["label"].tolist()
        process = server.process
    assert process.poll() is not None  # stopped on leaving the block
    with pytest.raises(RuntimeError, match="did not start") as e:
        ServerProcess("sent", tmp_path / "nothing-here", startup_timeout=60).start()
    assert "rnnkit serve: error: --model_base_path" in str(e.value)  # the one-line reason
    assert "does not exist, expected an existing folder" in str(e.value)
    assert "Traceback" not in str(e.value)


def test_micro_batching_threads_and_one_thread_serializes_calls(served):
    """num_batch_threads=1: merged calls never overlap; a bad value is a clear error."""
    tm, base, _ = served
    with pytest.raises(ValueError, match="num_batch_threads must be a positive integer, got 0"):
        create_app("sent", base, num_batch_threads=0)
    loaded = LoadedModel("sent", base)
    running, overlaps = [0], []
    lock = threading.Lock()
    original = loaded.predict

    def tracking(columns, signature="serving_default"):
        with lock:
            running[0] += 1
            overlaps.append(running[0])
        time.sleep(0.03)
        try:
            return original(columns, signature)
        finally:
            with lock:
                running[0] -= 1

    loaded.predict = tracking
    texts = [f"text {i} {TEXTS[i % 4]}" for i in range(16)]
    expected = tm.predict(texts)["label"].tolist()
    for threads, most in ((1, 1), (2, 2)):
        overlaps.clear()
        with TestClient(create_app("sent", base, model=loaded, num_batch_threads=threads)) as c:

            def call(i):
                r = c.post("/v1/models/sent:predict", json={"instances": [texts[i]]})
                return r.json()["predictions"][0]["label"]

            with ThreadPoolExecutor(max_workers=8) as pool:
                assert list(pool.map(call, range(16))) == expected
        assert max(overlaps) <= most
    assert max(overlaps) == 2  # two batch threads did run model calls concurrently


def test_serve_freezes_the_loaded_model_for_the_garbage_collector(served, monkeypatch):
    """After loading, serve() moves the live objects to gc's permanent generation."""
    import gc

    import uvicorn

    from rnnkit.serving import server as server_module

    _, base, _ = served
    seen = {}

    def fake_run(self, sockets=None):
        seen["frozen"] = gc.get_freeze_count()
        seen["port"] = self.config.port
        seen["bound"] = sockets[0].getsockname()[1]

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    port = _free_port()
    gc.unfreeze()
    try:
        server_module.serve("sent", base, rest_api_port=port, log_level="warning")
        assert seen["port"] == seen["bound"] == port
        assert seen["frozen"] > 10_000  # the model's objects
        gc.unfreeze()
        server_module.serve("sent", base, rest_api_port=port, freeze_gc=False)
        assert seen["frozen"] == 0
    finally:
        gc.unfreeze()


def test_rejected_requests_log_one_line_each_rate_limited(served):
    """One log line per rejected request, no traceback; past the limit, a count."""
    import logging

    from rnnkit.serving.server import RejectionLog

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("test_rnnkit_rejections")
    log.propagate = False
    log.addHandler(Keep())
    now = [0.0]
    rejections = RejectionLog(log, max_lines=5, window=10.0, clock=lambda: now[0])
    app = create_app("sent", served[1], model=served[2].state.model, rejection_log=rejections)
    with TestClient(app, raise_server_exceptions=False) as c:
        for body in (b'{"instances": ["a"], "signature_name": ["x"]}', b"{bad", b"[]"):
            r = c.post("/v1/models/sent:predict", content=body)
            assert r.status_code == 400
        lines = [r.getMessage() for r in records]
        assert len(lines) == 3 and all(line.startswith("rejected POST") for line in lines)
        assert "signature_name' is a JSON array, expected a string" in lines[0]
        assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in records)
        for _ in range(40):  # a flood: 2 more lines, then the note, then counted only
            assert c.get("/v1/models/sent/versions/\u00b2").status_code == 400
        assert len(records) == 6 and "further ones are counted" in records[-1].getMessage()
        now[0] = 10.5  # the next window
        assert c.get("/v1/models/nope").status_code == 404
        assert "38 more rejected requests were not logged" in records[-2].getMessage()
        assert records[-1].getMessage().startswith("rejected GET '/v1/models/nope' -> 404")
        assert c.post("/v1/models/sent:predict", json={"instances": ["ok"]}).status_code == 200


def _corrupt_copy(base, tmp_path, versions, corrupt):
    import shutil

    target = tmp_path / "corrupt"
    for v in versions:
        shutil.copytree(base / "3", target / str(v))
    for v, how in corrupt.items():
        folder = target / str(v)
        if how == "pb":
            pb = (folder / "saved_model.pb").read_bytes()
            (folder / "saved_model.pb").write_bytes(pb[: len(pb) // 3])
        else:
            for f in (folder / "variables").glob("variables.data*"):
                f.write_bytes(f.read_bytes()[:10])
    return target


def test_corrupt_newest_version_falls_back_to_an_older_one(served, tmp_path, caplog):
    tm, base, _ = served
    target = _corrupt_copy(base, tmp_path, [4, 7], {7: "pb"})
    with caplog.at_level("WARNING", logger="rnnkit.serving"):
        loaded = LoadedModel("sent", target)
    assert loaded.version == 4
    assert f"version folder {target / '7'} is corrupt" in caplog.text
    with TestClient(create_app("sent", target, model=loaded)) as c:
        r = c.post("/v1/models/sent:predict", json={"instances": TEXTS})
        assert [p["label"] for p in r.json()["predictions"]] == tm.predict(TEXTS)["label"].tolist()
        assert c.get("/v1/models/sent/versions/7").status_code == 404


def test_serve_with_no_healthy_version_is_one_line_naming_the_folder(served, tmp_path, capsys):
    from rnnkit.cli import main as cli

    _, base, _ = served
    target = _corrupt_copy(base, tmp_path, [5], {5: "variables"})
    with pytest.raises(ValueError, match=f"version folder {target / '5'} is corrupt"):
        LoadedModel("sent", target)
    argv = ["serve", "--model_name", "sent", "--model_base_path", str(target)]
    with pytest.raises(SystemExit) as e:
        cli.main([*argv, "--rest_api_port", str(_free_port())])
    assert e.value.code == 1
    out, err = capsys.readouterr()
    assert "Serving" not in out and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("rnnkit serve: error: version folder ")
    assert str(target / "5") in errors[0]


def test_port_in_use_is_reported_before_serving(served, capsys):
    from rnnkit.serving import server as server_module

    _, base, _ = served
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} on 127.0.0.1 is already in use"):
            server_module.serve("sent", base, rest_api_port=port)
    assert "Serving" not in capsys.readouterr().out
    for bad in (0, 99999, -1, True):
        with pytest.raises(ValueError, match="expected an integer from 1 to 65535"):
            server_module.serve("sent", base, rest_api_port=bad)
