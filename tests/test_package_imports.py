"""The package's import graph: no cycle between modules, and no import from a lower layer
of the package to a higher one (read from the source with ``ast``, function-level imports
included)."""

from __future__ import annotations

import ast
from pathlib import Path

import rnnkit

ROOT = Path(rnnkit.__file__).resolve().parent

#: the layers, bottom first: a module may import its own layer and the ones below
LAYERS = {
    "config": 0,
    "atomic": 0,
    "extras": 0,
    "logs": 0,
    "names": 0,
    "ops": 1,
    "text": 1,
    "backend": 2,
    "data": 2,
    "cells": 3,
    "layers": 4,
    "models": 5,
    "training": 6,
    "sklearn": 7,
    "serving": 7,
    "cli": 8,
    "recipes": 8,  # end-to-end workflows: the command line may import them, never the reverse
    "__main__": 9,
    "": 4,  # the package itself: it imports its core (cells, config, layers, ops)
}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the rnnkit modules it imports (a bare ``rnnkit`` only when it imports
    no submodule by name)."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
                targets = subs or [module]
            for target in targets:
                while target and target not in mods:  # e.g. rnnkit.ops.crf.fn -> rnnkit.ops.crf
                    target = target.rsplit(".", 1)[0] if "." in target else ""
                if target.startswith("rnnkit") and target != name:
                    graph[name].add(target)
    return graph


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_walk_sees_the_package():
    graph = import_graph()
    assert "rnnkit.layers.rnn" in graph and "rnnkit.layers.planner" in graph["rnnkit.layers.rnn"]
    assert {layer_of(m) for m in graph} - {""} <= set(LAYERS), "a new subpackage needs a layer"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = []
    for module, targets in import_graph().items():
        if module == "rnnkit":  # the package itself re-exports its core
            continue
        for target in targets:
            if LAYERS[layer_of(target)] > LAYERS[layer_of(module)]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycle():
    graph = import_graph()
    # a package's __init__ importing its own modules is how packages work; a module
    # importing its package's __init__ is an edge like any other
    edges = {
        m: {t for t in ts if not (modules()[m].name == "__init__.py" and t.startswith(m + "."))}
        for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_recipes_never_import_the_command_line():
    # same rank as cli: the command line runs the workflows of rnnkit.recipes, and the
    # workflows, which are called as Python functions too, never import the command line
    graph = import_graph()
    assert any(layer_of(m) == "recipes" for m in graph)
    backwards = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if layer_of(module) == "recipes"
        for target in targets
        if layer_of(target) == "cli"
    ]
    assert backwards == []


def test_deepmoji_lives_in_one_folder():
    # every DeepMoji-specific module is in rnnkit/models/deepmoji/; outside it only what
    # uses DeepMoji from a higher layer (the estimator, the workflows) is named after it,
    # and no lower layer imports the folder
    graph = import_graph()
    outside = sorted(
        m
        for m in graph
        if ("deepmoji" in m.split(".")[-1] or "emoji" in m.split(".")[-1])
        and not m.startswith("rnnkit.models.deepmoji")
    )
    assert outside == [
        "rnnkit.recipes._deepmoji",
        "rnnkit.recipes.deepmoji_attention",
        "rnnkit.recipes.deepmoji_benchmark",
        "rnnkit.recipes.deepmoji_pretrain",
        "rnnkit.sklearn.deepmoji",
    ]
    importers = {
        layer_of(m)
        for m, targets in graph.items()
        if any(t.startswith("rnnkit.models.deepmoji") for t in targets)
    }
    assert importers and all(LAYERS[layer] >= LAYERS["models"] for layer in importers), importers
