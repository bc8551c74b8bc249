"""The main job, end to end, at a size that fits 2 CPU cores (about five minutes).

    python recipes/main_job.py      # what `make demo` runs

1. Pretrain DeepMoji on the stand-in corpus (``recipes/deepmoji/pretrain.py --quick``:
   ../shared/data/tweets-sentiment, 3 classes, since no emoji corpus of useful size is
   available here).
2. Chain-thaw on a DeepMoji benchmark (``recipes/deepmoji/benchmark.py --quick``:
   SS-Twitter, ``new`` vs ``chain_thaw``), print the results table, save the attention
   heatmap (recipes/results/deepmoji_attention_quick_main_job.png).
3. Export the chain-thaw SS-Twitter model as a raw-text TF SavedModel
   (``runs/main_job/models/deepmoji/<version>/``) with DeepMoji's preprocessing
   in-graph (:func:`rnnkit.serving.preprocessing.deepmoji_pipeline`, exact); check that its
   ids equal the Python tokenizer's on the benchmark's test texts.
4. Start ``rnnkit serve`` on 127.0.0.1, answer one request through TF Serving's REST API,
   print it, stop the server.

Each step prints its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
REPO = Path(__file__).resolve().parents[1]
DEEPMOJI = REPO / "recipes" / "deepmoji"


def _recipe(name: str):
    if not (DEEPMOJI / f"{name}.py").is_file():
        sys.exit(f"main_job: recipes/deepmoji/{name}.py is missing; the DeepMoji recipe is needed.")
    sys.path.insert(0, str(DEEPMOJI))
    import importlib

    return importlib.import_module(name)


def step(title: str):
    print(f"\n=== {title}", flush=True)
    return time.time()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="quick", help="DeepMoji recipe configuration")
    parser.add_argument("--out", default=str(REPO / "runs" / "main_job"))
    parser.add_argument("--skip_pretrain", action="store_true", help="reuse the last run")
    parser.add_argument("--text", default="I love this so much, best day ever!")
    args = parser.parse_args(argv)
    out = Path(args.out)
    timings: dict[str, float] = {}
    start = time.time()

    pretrain = _recipe("pretrain")
    benchmark = _recipe("benchmark")
    common = _recipe("common")
    config = common.get_config(args.config)
    artifacts = out / "deepmoji"  # own folder: never touches runs/deepmoji/ of other runs

    if not args.skip_pretrain:
        t = step(f"1. Pretrain DeepMoji ({config.name}) on the stand-in corpus")
        pretrain.main(["--config", config.name, "--out", str(artifacts), "--verbose", "2"])
        timings["pretrain"] = time.time() - t

    t = step("2. Chain-thaw on SS-Twitter (new vs chain_thaw), results table, attention heatmap")
    rows = benchmark.main(
        [
            "--config",
            config.name,
            "--datasets",
            "SS-Twitter",
            "--methods",
            "new",
            "chain_thaw",
            "--pretrained",
            str(artifacts),
            "--save-model",
            str(out / "finetuned"),
            "--tag",
            "main_job",
        ]
    )
    timings["chain-thaw benchmark"] = time.time() - t

    t = step("3. Export the chain-thaw SS-Twitter model as a raw-text SavedModel")
    import keras
    import numpy as np

    from rnnkit.data import load_deepmoji_benchmark
    from rnnkit.serving.export import TextModel, export
    from rnnkit.serving.preprocessing import deepmoji_pipeline
    from rnnkit.text import DeepMojiTokenizer, load_vocabulary

    folder = out / "finetuned"
    model = keras.models.load_model(folder / "finetuned.keras", safe_mode=True)
    vocab = load_vocabulary(folder / "vocabulary.json")
    # SS-Twitter's classes 0 and 1 are negative and positive tweets
    classes = ["negative", "positive"]
    pipe = deepmoji_pipeline(vocab, config.maxlen)
    test_texts = load_deepmoji_benchmark("SS-Twitter").split("test")[0]
    ref = DeepMojiTokenizer(vocab).encode(test_texts, config.maxlen)
    got = pipe.tf_encode(test_texts).numpy()  # the graph the SavedModel runs
    agreement = float((ref == got).all(axis=1).mean())
    print(
        f"In-graph preprocessing vs DeepMojiTokenizer on {len(test_texts)} SS-Twitter test "
        f"texts: identical ids for {agreement:.1%} of texts (exact by construction)."
    )
    if agreement < 1.0:
        raise SystemExit("The in-graph DeepMoji preprocessing differs from DeepMojiTokenizer.")
    target = export(TextModel(model, pipe, classes), out / "models" / "deepmoji")
    print(f"Exported {target}")
    timings["export"] = time.time() - t

    t = step("4. Serve it and answer one request through TF Serving's REST API")
    import httpx

    from rnnkit.serving import ServerProcess

    with ServerProcess("deepmoji", out / "models" / "deepmoji") as server:
        url = f"{server.url}/v1/models/deepmoji:predict"
        request = {"instances": [args.text]}
        response = httpx.post(url, json=request, timeout=60).json()
        print(f"POST {url}\n  {json.dumps(request)}\n-> {json.dumps(response)}")
    timings["serve + request"] = time.time() - t

    total = time.time() - start
    print("\n| step | seconds |\n|---|---|")
    for name, sec in timings.items():
        print(f"| {name} | {sec:.0f} |")
    print(f"| total | {total:.0f} |")
    direct = TextModel(model, pipe, classes).predict([args.text])
    assert response["predictions"][0]["label"] == direct["label"][0]
    assert np.allclose(
        response["predictions"][0]["probabilities"], direct["probabilities"][0], atol=1e-5
    )
    return {"rows": rows, "agreement": agreement, "response": response, "seconds": total}


if __name__ == "__main__":
    main()
