"""CRF constraints, n-best decoding, any mask layout and sequence probabilities,
against brute-force enumeration of the allowed tag paths (float64 NumPy)."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from rnnkit.layers import CRF
from rnnkit.ops import (
    crf_decode,
    crf_log_likelihood,
    crf_log_partition,
    crf_log_partition_parallel,
    crf_marginals,
    crf_sequence_score,
    detect_scheme,
    transition_constraints,
)
from rnnkit.ops.crf import sequence_follows_scheme

K, T = 3, 5
# right-padded, left-padded, masked first step with a hole, holes, one step, full
MASKS = np.array(
    [
        [1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1],
        [0, 1, 0, 0, 1],
        [1, 0, 1, 0, 1],
        [0, 0, 0, 1, 0],
        [1, 1, 1, 1, 1],
    ],
    bool,
)
B = len(MASKS)
CONSTRAINTS = {
    "none": None,
    # every length has an allowed path (0 -> 0 ...)
    "some": dict(
        allowed_transitions=np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], bool),
        allowed_start=np.array([1, 1, 0], bool),
        allowed_end=np.array([1, 0, 1], bool),
    ),
    # only start/end constraints
    "ends": dict(allowed_start=np.array([0, 1, 1], bool), allowed_end=np.array([1, 1, 0], bool)),
    # tag 0 must be followed by 1 and 1 by 0; start 0, end 1: only even lengths
    "even": dict(
        allowed_transitions=np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], bool),
        allowed_start=np.array([1, 0, 0], bool),
        allowed_end=np.array([0, 1, 0], bool),
    ),
}


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _params(seed):
    rng = np.random.default_rng(seed)
    p = (rng.normal(size=(B, T, K)) * 2).astype("float32")
    tr = rng.normal(size=(K, K)).astype("float32")
    st, en = rng.normal(size=K).astype("float32"), rng.normal(size=K).astype("float32")
    return p, tr, st, en


def _allowed(path, cons):
    if cons is None:
        return True
    at = cons.get("allowed_transitions", np.ones((K, K), bool))
    st = cons.get("allowed_start", np.ones(K, bool))
    en = cons.get("allowed_end", np.ones(K, bool))
    moves = all(at[a, b] for a, b in zip(path[:-1], path[1:]))
    return bool(st[path[0]] and en[path[-1]] and moves)


def _brute(p, tr, st, en, mask, cons):
    """Per row: allowed paths (over the masked-in steps) sorted best first, their
    scores, log Z and marginals (B, T, K) at the original steps."""
    p, tr, st, en = (np.asarray(a, np.float64) for a in (p, tr, st, en))
    rows = []
    for b in range(p.shape[0]):
        steps = np.flatnonzero(mask[b])
        e = p[b, steps]
        paths = [y for y in itertools.product(range(K), repeat=len(steps)) if _allowed(y, cons)]
        scores = np.array(
            [
                st[y[0]]
                + en[y[-1]]
                + e[np.arange(len(y)), y].sum()
                + sum(tr[a, c] for a, c in zip(y[:-1], y[1:]))
                for y in paths
            ]
        )
        order = np.argsort(-scores, kind="stable")
        paths, scores = [paths[i] for i in order], scores[order]
        log_z = np.logaddexp.reduce(scores) if len(paths) else -np.inf
        marg = np.zeros((p.shape[1], K))
        for y, s in zip(paths, scores):
            marg[steps, y] += np.exp(s - log_z)
        rows.append(dict(steps=steps, paths=paths, scores=scores, log_z=log_z, marg=marg))
    return rows


def _full_tags(path, steps):
    out = np.zeros(T, "int32")
    out[steps] = path
    return out


# fast_path only changes anything on torch (rnnkit.ops.crf_torch)
FAST = [True, False] if keras.backend.backend() == "torch" else [True]


@pytest.mark.parametrize("fast_path", FAST, ids=["fast", "generic"][: len(FAST)])
@pytest.mark.parametrize("cons_name", list(CONSTRAINTS))
def test_everything_matches_brute_force_on_any_mask_and_constraints(cons_name, fast_path):
    cons = CONSTRAINTS[cons_name] or {}
    p, tr, st, en = _params(list(CONSTRAINTS).index(cons_name))
    brute = _brute(p, tr, st, en, MASKS, CONSTRAINTS[cons_name])
    has_path = np.array([len(r["paths"]) > 0 for r in brute])
    assert has_path.any()
    kw = dict(fast_path=fast_path, **cons)

    log_z = _np(crf_log_partition(p, tr, st, en, MASKS, **kw))
    log_z_par = _np(crf_log_partition_parallel(p, tr, st, en, MASKS, **cons))
    ref_z = np.array([r["log_z"] for r in brute])
    np.testing.assert_allclose(log_z[has_path], ref_z[has_path], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_z_par[has_path], ref_z[has_path], rtol=1e-5, atol=1e-5)
    assert np.isfinite(log_z).all() and np.isfinite(log_z_par).all()

    marg = _np(crf_marginals(p, tr, st, en, MASKS, **kw))
    assert np.isfinite(marg).all()
    for b, r in enumerate(brute):
        if has_path[b]:
            np.testing.assert_allclose(marg[b], r["marg"], atol=1e-5)
        assert (marg[b][~MASKS[b]] == 0).all()

    # log-likelihood (= sequence log-probability) of the best and the worst allowed path
    for pick in (0, -1):
        gold = np.stack(
            [
                _full_tags(r["paths"][pick], r["steps"]) if r["paths"] else np.zeros(T, "int32")
                for r in brute
            ]
        )
        ll = _np(crf_log_likelihood(p, gold, tr, st, en, MASKS, **kw))
        for b, r in enumerate(brute):
            if has_path[b]:
                np.testing.assert_allclose(ll[b], r["scores"][pick] - r["log_z"], atol=1e-4)
        score = _np(crf_sequence_score(p, gold, tr, st, en, MASKS, **cons))
        np.testing.assert_allclose(
            score[has_path], [r["scores"][pick] for r in brute if r["paths"]], rtol=1e-5, atol=1e-4
        )

    tags, best = crf_decode(p, tr, st, en, MASKS, **kw)
    tags, best = _np(tags), _np(best)
    assert tags.shape == (B, T) and tags.dtype == np.int32 and best.shape == (B,)
    for b, r in enumerate(brute):
        if has_path[b]:
            np.testing.assert_array_equal(tags[b], _full_tags(r["paths"][0], r["steps"]))
            np.testing.assert_allclose(best[b], r["scores"][0], rtol=1e-5, atol=1e-5)
        else:
            assert best[b] == -np.inf and (tags[b] == 0).all()

    for k in (12,):  # more than the short rows have paths, fewer than the long ones
        tags_k, scores_k = crf_decode(p, tr, st, en, MASKS, top_k=k, **kw)
        tags_k, scores_k = _np(tags_k), _np(scores_k)
        assert tags_k.shape == (B, k, T) and scores_k.shape == (B, k)
        for b, r in enumerate(brute):
            n = min(k, len(r["paths"]))
            np.testing.assert_allclose(scores_k[b, :n], r["scores"][:n], rtol=1e-5, atol=1e-5)
            for i in range(n):
                np.testing.assert_array_equal(tags_k[b, i], _full_tags(r["paths"][i], r["steps"]))
            assert (scores_k[b, n:] == -np.inf).all() and (tags_k[b, n:] == 0).all()
        # the first of the k best is the Viterbi path
        np.testing.assert_array_equal(tags_k[:, 0], tags)


@pytest.mark.parametrize("fast_path", FAST, ids=["fast", "generic"][: len(FAST)])
def test_gradient_is_gold_minus_marginals_on_any_mask(fast_path):
    """d log p(y) / d potentials[t, k] = 1[y_t = k] - p(y_t = k) at masked-in steps, 0
    elsewhere; the constrained case with the brute-force marginals of allowed paths."""
    p, tr, st, en = _params(21)
    cons = CONSTRAINTS["some"]
    brute = _brute(p, tr, st, en, MASKS, cons)
    gold = np.stack([_full_tags(r["paths"][-1], r["steps"]) for r in brute])
    onehot = np.eye(K)[gold] * MASKS[..., None]
    ref = onehot - np.stack([r["marg"] for r in brute])

    def f(x):
        return ops.sum(
            crf_log_likelihood(
                x, gold, tr, st, en, MASKS, fast_path=fast_path, validate=False, **cons
            )
        )

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(p)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        g = tape.gradient(y, x).numpy()
    elif backend == "jax":
        import jax

        g = np.asarray(jax.grad(f)(p))
    else:
        import torch

        x = torch.tensor(p, requires_grad=True)
        f(x).backward()
        g = x.grad.numpy()
    np.testing.assert_allclose(g, ref, atol=1e-5)


def test_traced_code_handles_any_mask():
    """Under jax.jit / tf.function the mask's values are unknown: the general path runs
    and gives the eager results."""
    backend = keras.backend.backend()
    p, tr, st, en = _params(22)
    cons = CONSTRAINTS["some"]
    gold = np.zeros((B, T), "int32")

    def run(p_, m_):
        ll = crf_log_likelihood(p_, gold, tr, st, en, m_, validate=False, **cons)
        tags, scores = crf_decode(p_, tr, st, en, m_, validate=False, **cons)
        tags3, scores3 = crf_decode(p_, tr, st, en, m_, validate=False, top_k=3, **cons)
        marg = crf_marginals(p_, tr, st, en, m_, validate=False, **cons)
        return ll, tags, scores, tags3, scores3, marg

    eager = [_np(x) for x in run(p, MASKS)]
    if backend == "jax":
        import jax

        traced = jax.jit(run)(p, MASKS)
    elif backend == "tensorflow":
        import tensorflow as tf

        # unknown batch and time sizes, as in model.fit on variable-length batches
        spec = [tf.TensorSpec((None, None, K), "float32"), tf.TensorSpec((None, None), "bool")]
        traced = tf.function(run, jit_compile=True, input_signature=spec)(p, MASKS)
    for a, b in zip(eager, traced):
        np.testing.assert_allclose(_np(b), a, rtol=1e-5, atol=1e-5)


if keras.backend.backend() == "torch":  # torch runs eagerly: there is no traced code
    del test_traced_code_handles_any_mask


# --- the layer -----------------------------------------------------------------------


def _layer(cons, tr, st, en):
    crf = CRF(K, name="crf", **(cons or {}))
    crf.build((None, None, K))
    crf.set_weights([tr, st, en])
    return crf


def test_layer_decode_top_k_and_sequence_probabilities_match_brute_force():
    p, tr, st, en = _params(30)
    cons = CONSTRAINTS["some"]
    crf = _layer(cons, tr, st, en)
    brute = _brute(p, tr, st, en, MASKS, cons)
    tags, scores, log_probs = crf.decode(p, MASKS, top_k=3, return_log_probability=True)
    tags, scores, log_probs = _np(tags), _np(scores), _np(log_probs)
    for b, r in enumerate(brute):
        n = min(3, len(r["paths"]))
        np.testing.assert_allclose(log_probs[b, :n], r["scores"][:n] - r["log_z"], atol=1e-4)
        assert (log_probs[b, n:] == -np.inf).all()
    # sequence_log_probability of the best paths = the decoded log-probabilities
    best, _, best_lp = crf.decode(p, MASKS, return_log_probability=True)
    seq_lp = _np(crf.sequence_log_probability(p, best, MASKS))
    np.testing.assert_allclose(seq_lp, _np(best_lp), atol=1e-4)
    np.testing.assert_allclose(seq_lp, log_probs[:, 0], atol=1e-4)
    np.testing.assert_array_equal(_np(best), tags[:, 0])
    np.testing.assert_allclose(
        _np(crf.marginals(p, MASKS)), np.stack([r["marg"] for r in brute]), atol=1e-5
    )
    # the loss: -1 labels on any layout
    y = np.where(MASKS, np.stack([_full_tags(r["paths"][0], r["steps"]) for r in brute]), -1)
    ref = -np.mean([r["scores"][0] - r["log_z"] for r in brute])
    np.testing.assert_allclose(float(_np(crf.loss(y, p))), ref, rtol=1e-5)


def test_constraints_config_round_trip_and_keras_file(tmp_path):
    import json

    names = ["O", "B-PER", "I-PER"]
    cons = transition_constraints(names, "BIO")
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(20, 8)(inputs)
    crf = CRF(
        K,
        name="crf",
        allowed_start=cons["allowed_start"],
        allowed_transitions=cons["allowed_transitions"].tolist(),
    )
    model = keras.Model(inputs, crf(keras.layers.Dense(K)(h)))
    config = crf.get_config()
    json.dumps(config)
    assert config["allowed_transitions"] == cons["allowed_transitions"].tolist()
    assert config["allowed_start"] == cons["allowed_start"].tolist()
    assert config["allowed_end"] is None
    again = CRF.from_config(config)
    np.testing.assert_array_equal(again.allowed_transitions, cons["allowed_transitions"])
    path = tmp_path / "crf.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True).get_layer("crf")
    np.testing.assert_array_equal(loaded.allowed_start, cons["allowed_start"])
    assert loaded.allowed_end is None
    x = np.random.default_rng(0).integers(1, 20, size=(4, 6)).astype("int32")
    pot = model.predict(x, verbose=0)
    tags = _np(loaded.decode(pot, top_k=2)[0])
    np.testing.assert_array_equal(tags, _np(crf.decode(pot, top_k=2)[0]))
    # no O -> I-PER, no I-PER first, in any of the returned paths
    assert not (tags[..., 0] == 2).any()
    assert not ((tags[..., :-1] == 0) & (tags[..., 1:] == 2)).any()


# --- schemes -------------------------------------------------------------------------


def _ref_valid(seq, scheme):
    """Independent statement of each scheme's rules over a tag-name sequence."""
    if scheme == "BIOES":
        open_type = None
        for t in seq:
            prefix, kind = t[0].replace("U", "S").replace("L", "E"), t[2:]
            if prefix in "OBS" and open_type is not None:
                return False
            if prefix in "IE" and open_type != kind:
                return False
            open_type = kind if prefix in "BI" else None
        return open_type is None
    needs_chunk = "I" if scheme == "BIO" else "B"
    for i, t in enumerate(seq):
        prev = seq[i - 1] if i else "O"
        if t[0] == needs_chunk and (prev == "O" or prev[2:] != t[2:]):
            return False
    return True


SCHEME_TAGS = {
    "BIO": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "IOB1": ["O", "I-PER", "B-PER", "I-LOC", "B-LOC"],
    "BIOES": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"],
    "BILOU": ["O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "I-LOC", "L-LOC", "U-LOC"],
}


@pytest.mark.parametrize("scheme", list(SCHEME_TAGS))
def test_transition_constraints_match_the_scheme_rules(scheme):
    tags = SCHEME_TAGS[scheme]
    cons = transition_constraints(tags, scheme)
    at, st, en = cons["allowed_transitions"], cons["allowed_start"], cons["allowed_end"]
    assert at.dtype == st.dtype == en.dtype == np.bool_
    assert at.shape == (len(tags), len(tags)) and st.shape == en.shape == (len(tags),)
    ref_scheme = "BIOES" if scheme == "BILOU" else scheme
    for length in (1, 2, 3):
        for ids in itertools.product(range(len(tags)), repeat=length):
            seq = [tags[i] for i in ids]
            by_matrix = bool(
                st[ids[0]] and en[ids[-1]] and all(at[a, b] for a, b in zip(ids[:-1], ids[1:]))
            )
            assert by_matrix == _ref_valid(seq, ref_scheme), seq
            assert sequence_follows_scheme(seq, scheme) == by_matrix
    assert detect_scheme(tags) == ("BIO" if scheme in ("BIO", "IOB1") else "BIOES")


def test_scheme_aliases_and_detection():
    bio = transition_constraints(SCHEME_TAGS["BIO"], "IOB2")
    for key, value in transition_constraints(SCHEME_TAGS["BIO"], "bio").items():
        np.testing.assert_array_equal(bio[key], value)
    bilou = transition_constraints(SCHEME_TAGS["BILOU"], "BILOU")
    for key, value in transition_constraints(SCHEME_TAGS["BIOES"], "BIOES").items():
        np.testing.assert_array_equal(bilou[key], value)
    bio_tags = SCHEME_TAGS["BIO"]
    assert detect_scheme(bio_tags, [["B-PER", "I-PER", "O"]]) == "BIO"
    assert detect_scheme(bio_tags, [["I-PER", "O"], ["O", "I-LOC", "B-LOC"]]) == "IOB1"
    assert detect_scheme(bio_tags, [["O", "I-PER", "B-LOC"]]) is None
    assert detect_scheme(["NN", "VB", "O"]) is None
    assert detect_scheme(["O"]) is None
    assert detect_scheme(["O", "B-X-Y", "I-X-Y"]) == "BIO"  # types may contain '-'


def _bad(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_bad_constraints_and_schemes():
    p, tr, st, en = _params(40)
    ok = np.ones((K, K), bool)
    _bad(lambda: CRF(K, allowed_transitions=np.ones((K, K + 1), bool)), r"shape \(3, 3\)")
    _bad(lambda: CRF(K, allowed_start=np.ones(K + 1, bool)), r"allowed_start must have shape")
    _bad(lambda: CRF(K, allowed_transitions=np.ones((K, K))), "must be boolean.*float64")
    _bad(lambda: CRF(K, allowed_end=[1, 0, 1]), "allowed_end must be boolean")
    # no transitions at all: only length-1 paths, but no tag is both a start and an end
    _bad(
        lambda: CRF(
            K,
            allowed_transitions=~ok,
            allowed_start=[True, False, False],
            allowed_end=[False, True, True],
        ),
        "allow no tag path of any length",
    )
    # tag 0 may only go to itself; starts at 0, ends at 2: unreachable
    trap = np.zeros((K, K), bool)
    trap[0, 0] = True
    _bad(
        lambda: crf_decode(
            p,
            tr,
            st,
            en,
            allowed_transitions=trap,
            allowed_start=np.array([1, 0, 0], bool),
            allowed_end=np.array([0, 0, 1], bool),
        ),
        "allow no tag path",
    )
    _bad(lambda: crf_marginals(p, tr, st, en, allowed_transitions=ok[:2]), "shape")
    _bad(lambda: crf_decode(p, tr, st, en, top_k=0), "top_k must be a positive integer")
    _bad(lambda: crf_decode(p, tr, st, en, top_k=2.0), "top_k must be a positive integer")
    empty = MASKS.copy()
    empty[2] = False
    _bad(lambda: crf_decode(p, tr, st, en, empty), r"mask rows \[2\] are all False")
    _bad(lambda: transition_constraints(["O", "B-PER", "PER"], "BIO"), "Tag 'PER' does not fit")
    _bad(lambda: transition_constraints(["O", "E-PER"], "BIO"), "Tag 'E-PER' does not fit the BIO")
    _bad(lambda: transition_constraints(["O", "B-"], "BIOES"), "Tag 'B-'")
    _bad(lambda: transition_constraints(["O"], "BIOLU"), "Unknown tagging scheme 'BIOLU'")
    _bad(lambda: transition_constraints([], "BIO"), "empty tag list")


@pytest.mark.parametrize("cons_name", ["some", "ends", "even"])
def test_lengths_with_an_allowed_path_match_enumeration(cons_name):
    from rnnkit.ops.crf import _all_lengths_allowed, check_constraints

    cons = check_constraints(**CONSTRAINTS[cons_name])
    feasible = [
        any(_allowed(y, CONSTRAINTS[cons_name]) for y in itertools.product(range(K), repeat=n))
        for n in range(1, 7)
    ]
    for steps in range(1, 7):
        assert _all_lengths_allowed(cons, steps) == all(feasible[:steps])
    assert _all_lengths_allowed(cons, None) == all(feasible)


def test_top_k_with_one_time_step():
    p, tr, st, en = _params(50)
    p1 = p[:, :1]
    tags, scores = crf_decode(p1, tr, st, en, top_k=K + 1)
    tags, scores = _np(tags), _np(scores)
    assert tags.shape == (B, K + 1, 1) and scores.shape == (B, K + 1)
    ref = p1[:, 0].astype("float64") + st + en
    order = np.argsort(-ref, axis=1)
    np.testing.assert_array_equal(tags[:, :K, 0], order)
    np.testing.assert_allclose(scores[:, :K], np.take_along_axis(ref, order, 1), rtol=1e-5)
    assert (scores[:, K] == -np.inf).all() and (tags[:, K] == 0).all()


def test_scheme_violations_name_the_positions():
    """The one implementation of the scheme rules: index j for a tag that may not follow
    (or start), len(tags) for a sequence that may not end there; sequence_follows_scheme
    is its emptiness."""
    from rnnkit.ops.crf import scheme_violations

    assert scheme_violations(["O", "I-PER", "B-LOC", "I-PER"]) == [1, 3]
    assert scheme_violations(["I-PER"]) == [0]
    assert scheme_violations([]) == [] and sequence_follows_scheme([])
    assert scheme_violations(["I-PER", "I-LOC"], "IOB1") == []  # I-x opens a chunk in IOB1
    assert scheme_violations(["I-PER", "B-LOC"], "IOB1") == [1]  # B-x only inside an x chunk
    assert scheme_violations(["B-PER", "I-PER"], "BIOES") == [2]  # a chunk left open
    assert scheme_violations(["S-PER", "B-LOC", "E-LOC"], "BILOU") == []
    with pytest.raises(ValueError):
        scheme_violations(["NN", "VB"])
