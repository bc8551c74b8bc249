"""The main job, end to end, at a size that fits 2 CPU cores (about five minutes).

    python recipes/main_job.py      # what `make demo` runs; --verbose for framework logs

1. Prepare the stand-in pretraining corpus with :func:`rnnkit.models.deepmoji.prepare_corpus`, the
   same path as a real emoji corpus: the 38k labelled tweets of
   ../shared/data/tweets-sentiment (label = the ``sentiment`` column, 3 classes), since no
   emoji corpus of useful size is available here. TFRecord shards + manifest in
   ``runs/main_job/corpus/``.
2. Pretrain DeepMoji (the recipe's ``demo`` configuration) with
   :func:`rnnkit.training.pretrain`, streaming from that corpus directory.
3. SS-Twitter: chain-thaw vs the same model trained from scratch (``new``), 3 seeds each
   (2 fine-tuning processes at a time); the results table (mean ± std), the attention of
   the chain-thaw model on a few test texts with, per text, the top word's weight over the
   uniform weight, and the heatmap PNG.
4. Export the chain-thaw SS-Twitter model as a raw-text TF SavedModel
   (``runs/main_job/models/deepmoji/<version>/``) with DeepMoji's preprocessing
   in-graph (:func:`rnnkit.models.deepmoji.deepmoji_pipeline`, exact); check that its
   ids equal the Python tokenizer's on the benchmark's test texts.
5. Start ``rnnkit serve`` on 127.0.0.1, answer one request through TF Serving's REST API,
   print it, stop the server.

Everything it writes goes under ``--out`` (default ``runs/main_job/``, git-ignored). Each
step's wall and CPU time (this process and its workers) is printed at the end. Killed at
any moment, the same command goes on: pretraining from its last checkpoint, fine-tuning
with the runs not yet recorded (a finished job run again reuses both and takes seconds;
remove ``runs/main_job/`` to start afresh).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def step(title: str) -> tuple[float, float]:
    print(f"\n=== {title}", flush=True)
    return time.time(), cpu_seconds()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="demo", help="DeepMoji recipe configuration")
    parser.add_argument("--out", default=str(REPO / "runs" / "main_job"))
    parser.add_argument("--skip_pretrain", action="store_true", help="reuse the last run")
    parser.add_argument("--jobs", type=int, default=2, help="fine-tuning processes at a time")
    parser.add_argument("--text", default="I love this so much, best day ever!")
    parser.add_argument("--verbose", action="store_true", help="framework logs, progress bars")
    args = parser.parse_args(argv)
    if not args.verbose:
        # this script owns its process, as the rnnkit command does: the package drops
        # the frameworks' log lines before it imports one (rnnkit.logs), and so do the
        # fine-tuning workers and the server, which inherit the setting
        os.environ["RNNKIT_QUIET"] = "1"
    from rnnkit.sklearn.base import framework_logs

    with framework_logs(args.verbose):  # TensorFlow's retracing warnings
        return run(args)


def run(args: argparse.Namespace) -> dict:
    """The five steps (see the module docstring) with the parsed arguments of :func:`main`."""
    from rnnkit.models.deepmoji.transfer import build, get_config, save_pretrained
    from rnnkit.recipes import deepmoji_benchmark

    out = Path(args.out)
    timings: dict[str, tuple[float, float]] = {}
    start, start_cpu = time.time(), cpu_seconds()

    def done(name: str, t: tuple[float, float]) -> None:
        timings[name] = (time.time() - t[0], cpu_seconds() - t[1])

    config = get_config(args.config)
    artifacts = out / "deepmoji"  # own folder: never touches runs/deepmoji/ of other runs
    verbose = 2 if args.verbose else 0

    if not args.skip_pretrain:
        from rnnkit.data.paths import resolve
        from rnnkit.data.tweets_sentiment import DEFAULT_RELATIVE_PATH
        from rnnkit.models.deepmoji import prepare_corpus
        from rnnkit.training import pretrain
        from rnnkit.training.pretrain import load_state

        t = step("1. Prepare the stand-in corpus (rnnkit.models.deepmoji.prepare_corpus)")
        corpus = prepare_corpus(
            resolve(None, DEFAULT_RELATIVE_PATH),
            out / "corpus",
            label_field="sentiment",
            text_field="text",
            maxlen=config.maxlen,
            vocab_size=config.vocab_size,
            min_count=2,
            seed=0,
            overwrite=True,  # the demo's own folder: a corpus of other settings is replaced
            verbose=int(args.verbose),
        )
        print(
            f"{corpus.directory}: {corpus.splits['train']:,} train / "
            f"{corpus.splits['validation']:,} validation tweets, labels {corpus.labels} "
            f"({', '.join(f'{k} {v:,}' for k, v in corpus.label_counts.items())}), "
            f"vocabulary {corpus.vocabulary_size:,}, maxlen {corpus.maxlen}."
        )
        done("prepare corpus", t)

        t = step(f"2. Pretrain DeepMoji ({config.name}) from the corpus directory")
        checkpoints = artifacts / "checkpoints"
        state = load_state(checkpoints)
        if state is not None and (
            (state.get("data") or {}).get("content_hash") != corpus.manifest.get("content_hash")
            or state.get("batch_size") != config.pretrain_batch
            or state.get("seed") != 0
        ):
            # a checkpoint of an earlier demo run with other data or settings (e.g. an older
            # rnnkit): resuming from it is an error, so the demo starts pretraining afresh
            print(f"{checkpoints}: from an earlier run on other data; pretraining afresh.")
            shutil.rmtree(checkpoints)
        result = pretrain(
            lambda: build(config, corpus.vocabulary_size, len(corpus.labels)),
            corpus.directory,
            checkpoint_dir=checkpoints,
            epochs=config.pretrain_epochs,
            batch_size=config.pretrain_batch,
            learning_rate=config.pretrain_lr,
            checkpoint_every=50,
            seed=0,
            verbose=verbose,
        )
        info = {
            "corpus": f"stand-in: tweets-sentiment via prepare_corpus ({corpus.directory.name}/)",
            "content_hash": corpus.manifest.get("content_hash"),
            "classes": list(corpus.labels),
            "n_train": int(corpus.splits["train"]),
            "n_val": int(corpus.splits["validation"]),
            "history": result.history,
            "seconds": round(time.time() - t[0], 1),
        }
        save_pretrained(result.model, corpus.vocabulary(), config, artifacts, info)
        print("| epoch | loss | top-1 | val loss | val top-1 |\n|---|---|---|---|---|")
        for i, h in enumerate(result.history, 1):
            print(
                f"| {i} | {h['loss']:.4f} | {h['top1']:.4f} | "
                f"{h.get('val_loss', float('nan')):.4f} | {h.get('val_top1', float('nan')):.4f} |"
            )
        done("pretrain", t)

    t = step("3. SS-Twitter: chain-thaw vs training from scratch (new), attention")
    bench = deepmoji_benchmark.run(
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
            "--out",
            str(out),
            "--tag",
            "main_job",
            "--jobs",
            str(args.jobs),
            "--verbose",
            str(int(args.verbose)),
        ]
    )
    rows = bench["rows"]
    done("fine-tune (new, chain-thaw)", t)

    t = step("4. Export the chain-thaw SS-Twitter model as a raw-text SavedModel")
    import keras
    import numpy as np

    from rnnkit.models.deepmoji import (
        DeepMojiTokenizer,
        deepmoji_pipeline,
        load_deepmoji_benchmark,
        load_vocabulary,
    )
    from rnnkit.serving.export import TextModel, export

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
    done("export", t)

    t = step("5. Serve it and answer one request through TF Serving's REST API")
    import httpx

    from rnnkit.serving import ServerProcess

    with ServerProcess("deepmoji", out / "models" / "deepmoji") as server:
        url = f"{server.url}/v1/models/deepmoji:predict"
        request = {"instances": [args.text]}
        response = httpx.post(url, json=request, timeout=60).json()
        print(f"POST {url}\n  {json.dumps(request)}\n-> {json.dumps(response)}")
    done("serve + request", t)
    total, total_cpu = time.time() - start, cpu_seconds() - start_cpu

    by = {r["method"]: r for r in rows}
    ct, new = by["chain_thaw"], by["new"]
    gain = ct["mean"] - new["mean"]
    ratios = [a["ratio"] for a in bench["attention"]]
    print("\n=== Summary")
    print("| SS-Twitter test accuracy | mean ± std | per seed |\n|---|---|---|")
    for name, r in (("chain-thaw (pretrained)", ct), ("new (from scratch)", new)):
        print(f"| {name} | {r['mean']:.3f} ± {r['std']:.3f} | {r['scores']} |")
    print(
        f"Chain-thaw {'beats' if gain > 0 else 'does NOT beat'} training from scratch by "
        f"{gain:+.3f} (seeds {ct['seeds']}; the spread is the std over seeds)."
    )
    if ratios:
        strong = sum(q >= 2 for q in ratios)
        print(
            f"Attention: the top word carries {min(ratios):.1f}x-{max(ratios):.1f}x the uniform "
            f"weight on the {len(ratios)} texts shown ({strong} of {len(ratios)} at >= 2x); "
            f"heatmap {bench['heatmap']}."
        )
    print("\n| step | wall s | CPU s |\n|---|---|---|")
    for name, (sec, cpu) in timings.items():
        print(f"| {name} | {sec:.0f} | {cpu:.0f} |")
    print(f"| total | {total:.0f} | {total_cpu:.0f} |")
    direct = TextModel(model, pipe, classes).predict([args.text])
    assert response["predictions"][0]["label"] == direct["label"][0]
    assert np.allclose(
        response["predictions"][0]["probabilities"], direct["probabilities"][0], atol=1e-5
    )
    return {
        "rows": rows,
        "attention": bench["attention"],
        "agreement": agreement,
        "response": response,
        "seconds": total,
        "cpu_seconds": total_cpu,
    }


if __name__ == "__main__":
    main()
