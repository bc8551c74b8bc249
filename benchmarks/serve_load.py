"""Load test of `rnnkit serve` against in-process calls of the same SavedModel.

Exports an (untrained: latency does not depend on the weights) text classifier of the
command line's default size (BiLSTM 64 per direction, embedding 64, 40 tokens, vocabulary
from 20k real tweets), starts `python -m rnnkit serve` in a separate process on
127.0.0.1 (loopback only), and runs N concurrent clients for a bounded time and request
count, each sending one real tweet per request (row format). The anchor is the same
SavedModel called in-process by N threads with one tweet per call. Reports p50/p99
latency, throughput and errors for both, and the ratio. This process freezes its
garbage collector's view of the loaded objects (``gc.freeze()``) as the server does, so
neither side pays full collections over TensorFlow's ~500k objects (``--no-freeze-gc``
measures both without it).

    python benchmarks/serve_load.py --clients 1 10 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: E402, F401, I001

import numpy as np  # noqa: E402

from rnnkit.serving.process import ServerProcess  # noqa: E402


def load_texts(n: int = 20000) -> list[str]:
    import pandas as pd

    from rnnkit.data.paths import resolve

    path = resolve(None, "tweets-sentiment/crowdflower-tweets.csv")
    return pd.read_csv(path, encoding_errors="replace")["text"].astype(str).tolist()[:n]


def export_model(base: Path, texts: list[str]) -> Path:
    from rnnkit.cli.tasks import build_classifier
    from rnnkit.serving.export import TextModel, export
    from rnnkit.text.pipeline import TextPipeline

    pipe = TextPipeline.fit(texts, max_length=40, max_vocabulary=20000)
    model = build_classifier(len(pipe.vocabulary), 3, 40, "lstm", 64, 1, True, 64)
    return export(TextModel(model, pipe, ["negative", "neutral", "positive"]), base)


def stats(latencies: list[float], errors: int, wall: float) -> dict:
    lat = np.asarray(latencies) * 1000.0
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "rps": len(latencies) / wall,
    }


def load_signature(version_dir: Path) -> object:
    import tensorflow as tf

    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]


def in_process(
    fn: object, texts: list[str], clients: int, seconds: float, max_requests: int
) -> dict:
    import tensorflow as tf

    fn(text=tf.constant(texts[:1]))  # warm up
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    counter = iter(range(max_requests))

    def worker(k: int) -> None:
        nonlocal errors
        i = k
        while time.perf_counter() < stop:
            with lock:
                if next(counter, None) is None:
                    return
            t0 = time.perf_counter()
            try:
                out = fn(text=tf.constant([texts[i % len(texts)]]))
                out["label"].numpy()
                ok = True
            except Exception:  # noqa: BLE001 - counted as an error
                ok = False
            dt = time.perf_counter() - t0
            with lock:
                if ok:
                    latencies.append(dt)
                else:
                    errors += 1
            i += clients

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats(latencies, errors, time.perf_counter() - t0)


async def _post(reader, writer, host: str, path: str, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive POST on an open connection (a minimal client: the load
    generator shares the 2 cores with the server, so it must cost little CPU)."""
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def _http_load(
    port: int, path: str, texts: list[str], clients: int, seconds: float, max_requests: int
) -> dict:
    import json

    latencies: list[float] = []
    errors = 0
    budget = [max_requests]
    bodies = [json.dumps({"instances": [t]}).encode() for t in texts]

    async def worker(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop and budget[0] > 0:
                budget[0] -= 1
                t0 = time.perf_counter()
                try:
                    status, payload = await _post(
                        reader, writer, "127.0.0.1", path, bodies[i % len(bodies)]
                    )
                    ok = status == 200 and b'"predictions"' in payload
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                dt = time.perf_counter() - t0
                if ok:
                    latencies.append(dt)
                else:
                    errors += 1
                i += clients
        finally:
            writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _post(reader, writer, "127.0.0.1", path, bodies[0])  # warm up
    writer.close()
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    return stats(latencies, errors, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=10.0, help="per load level")
    parser.add_argument("--max_requests", type=int, default=20000, help="per load level")
    parser.add_argument("--markdown", default=None, help="also write the table here")
    parser.add_argument(
        "--freeze-gc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="gc.freeze() here and in the server (rnnkit serve --freeze_gc)",
    )
    args = parser.parse_args(argv)

    texts = load_texts()
    tmp = Path(tempfile.mkdtemp(prefix="rnnkit-serve-load-"))
    version_dir = export_model(tmp / "bench", texts)
    import gc

    fn = load_signature(version_dir)  # loaded once, before the freeze
    if args.freeze_gc:
        gc.collect()
        gc.freeze()
    flag = "--freeze_gc" if args.freeze_gc else "--no-freeze_gc"
    server = ServerProcess("bench", tmp / "bench", extra_args=[flag]).start()
    port = server.port
    try:
        path = "/v1/models/bench:predict"
        rows = []
        for n in args.clients:
            local = in_process(fn, texts, n, args.seconds, args.max_requests)
            remote = asyncio.run(_http_load(port, path, texts, n, args.seconds, args.max_requests))
            rows.append((n, local, remote))
            print(f"clients={n}: in-process {local} | server {remote}", flush=True)
    finally:
        server.stop()

    header = (
        "| clients | in-process p50 ms | in-process p99 ms | in-process req/s | "
        "server p50 ms | server p99 ms | server req/s | server errors | p99 ratio |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for n, a, b in rows:
        lines.append(
            f"| {n} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | {a['rps']:.0f} | "
            f"{b['p50_ms']:.1f} | {b['p99_ms']:.1f} | {b['rps']:.0f} | {b['errors']} | "
            f"{b['p99_ms'] / a['p99_ms']:.2f}x |"
        )
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
