"""CRF ops and layer against brute-force enumeration of all K^T tag paths."""

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
)
from tests.multibackend.helpers import function_gradients

B, T, K = 3, 4, 3
MASK = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)


def _params(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    p = (rng.normal(size=(B, T, K)) * 2 * scale).astype("float32")
    tr = rng.normal(size=(K, K)).astype("float32")
    st = rng.normal(size=K).astype("float32")
    en = rng.normal(size=K).astype("float32")
    return p, tr, st, en


def _path_score(p, tr, st, en, y):
    s = st[y[0]] + en[y[-1]] + sum(p[t, y[t]] for t in range(len(y)))
    return s + sum(tr[y[t - 1], y[t]] for t in range(1, len(y)))


def _brute(p, tr, st, en, mask):
    """Per row: (paths, scores, logZ, marginals (T, K)) by enumeration in float64."""
    out = []
    p, tr, st, en = (np.asarray(a, np.float64) for a in (p, tr, st, en))
    for b in range(p.shape[0]):
        length = int(mask[b].sum())
        paths = list(itertools.product(range(K), repeat=length))
        scores = np.array([_path_score(p[b], tr, st, en, y) for y in paths])
        log_z = np.logaddexp.reduce(scores)
        marg = np.zeros((p.shape[1], K))
        for y, s in zip(paths, scores):
            marg[np.arange(length), y] += np.exp(s - log_z)
        out.append((paths, scores, log_z, marg))
    return out


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("masked", [False, True])
def test_log_partition_viterbi_marginals_match_brute_force(masked):
    p, tr, st, en = _params()
    mask = MASK if masked else np.ones((B, T), bool)
    m = mask if masked else None
    brute = _brute(p, tr, st, en, mask)
    log_z = _np(crf_log_partition(p, tr, st, en, m))
    log_z_par = _np(crf_log_partition_parallel(p, tr, st, en, m))
    tags, best = crf_decode(p, tr, st, en, m)
    tags, best = _np(tags), _np(best)
    marg = _np(crf_marginals(p, tr, st, en, m))
    assert tags.dtype == np.int32 and tags.shape == (B, T)
    for b, (paths, scores, ref_z, ref_marg) in enumerate(brute):
        length = int(mask[b].sum())
        np.testing.assert_allclose(log_z[b], ref_z, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(log_z_par[b], ref_z, rtol=1e-5, atol=1e-5)
        assert tuple(tags[b, :length]) == paths[int(np.argmax(scores))]
        assert (tags[b, length:] == 0).all()
        np.testing.assert_allclose(best[b], scores.max(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(marg[b], ref_marg, atol=1e-5)
        np.testing.assert_allclose(marg[b, :length].sum(-1), 1.0, atol=1e-5)
        assert (marg[b, length:] == 0).all()


@pytest.mark.parametrize("masked", [False, True])
def test_likelihoods_of_all_paths_sum_to_one(masked):
    p, tr, st, en = _params(1)
    mask = MASK if masked else np.ones((B, T), bool)
    # Every row enumerates all K^T paths; padded steps of shorter rows repeat paths,
    # so count each distinct valid prefix once.
    all_paths = np.array(list(itertools.product(range(K), repeat=T)), "int32")
    n = len(all_paths)
    for b in range(B):
        length = int(mask[b].sum())
        pb = np.repeat(p[b : b + 1], n, axis=0)
        mb = np.repeat(mask[b : b + 1], n, axis=0) if masked else None
        ll = _np(crf_log_likelihood(pb, all_paths, tr, st, en, mb))
        _, first = np.unique(all_paths[:, :length], axis=0, return_index=True)
        np.testing.assert_allclose(np.exp(ll[first]).sum(), 1.0, atol=1e-4)
        paths, scores, log_z, _ = _brute(p[b : b + 1], tr, st, en, mask[b : b + 1])[0]
        ref = {y: s - log_z for y, s in zip(paths, scores)}
        for i in first[:10]:
            np.testing.assert_allclose(ll[i], ref[tuple(all_paths[i, :length])], atol=1e-4)


def test_large_scores_are_stable():
    p, tr, st, en = _params(2, scale=500.0)
    log_z = _np(crf_log_partition(p, tr, st, en))
    ref = [z for _, _, z, _ in _brute(p, tr, st, en, np.ones((B, T), bool))]
    assert np.isfinite(log_z).all()
    np.testing.assert_allclose(log_z, ref, rtol=1e-5)


def test_single_time_step():
    p, tr, st, en = _params(3)
    p1 = p[:, :1]
    mask = np.ones((B, 1), bool)
    brute = _brute(p1, tr, st, en, mask)
    np.testing.assert_allclose(
        _np(crf_log_partition(p1, tr, st, en)), [z for _, _, z, _ in brute], rtol=1e-5
    )
    tags, _ = crf_decode(p1, tr, st, en)
    np.testing.assert_array_equal(_np(tags)[:, 0], np.argmax(p1[:, 0] + st + en, axis=-1))
    np.testing.assert_allclose(_np(crf_marginals(p1, tr, st, en)).sum(-1), 1.0, atol=1e-6)


def _brute_log_likelihood(p, tr, st, en, tags, mask):
    total = 0.0
    for b, (_, _, log_z, _) in enumerate(_brute(p, tr, st, en, mask)):
        length = int(mask[b].sum())
        total += _path_score(p[b], tr, st, en, tags[b, :length]) - log_z
    return total


def test_gradients_match_finite_differences():
    p, tr, st, en = _params(4)
    tags = np.array([[0, 1, 2, 1], [2, 2, 0, 0], [1, 0, 0, 0]], "int32")
    args = [p, tr, st, en]

    def f(p_, tr_, st_, en_):
        return ops.sum(crf_log_likelihood(p_, tags, tr_, st_, en_, MASK, validate=False))

    grads = function_gradients(f, args)
    # Central differences of the float64 brute-force log-likelihood.
    args64 = [a.astype("float64") for a in args]
    eps = 1e-5
    rng = np.random.default_rng(0)
    for i, (a, g) in enumerate(zip(args64, grads)):
        assert g.shape == a.shape and np.isfinite(g).all()
        for idx in [tuple(rng.integers(0, s) for s in a.shape) for _ in range(4)]:
            plus = [x.copy() for x in args64]
            minus = [x.copy() for x in args64]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            fd = (
                _brute_log_likelihood(*plus, tags, MASK) - _brute_log_likelihood(*minus, tags, MASK)
            ) / (2 * eps)
            np.testing.assert_allclose(g[idx], fd, rtol=1e-3, atol=1e-5)
    # Padded steps get no gradient.
    assert np.abs(grads[0][~MASK]).max() == 0.0


def test_layer_methods_and_pytorch_crf_convention():
    p, tr, st, en = _params(5)
    crf = CRF(K)
    crf.build((None, None, K))
    crf.set_weights([tr, st, en])
    assert [w.path.split("/")[-1] for w in crf.weights] == [
        "transitions",
        "start_transitions",
        "end_transitions",
    ]
    tags = np.zeros((B, T), "int32")
    np.testing.assert_allclose(
        _np(crf.log_likelihood(p, tags, MASK)),
        _np(crf_log_likelihood(p, tags, tr, st, en, MASK)),
        rtol=1e-6,
    )
    brute = _brute(p, tr, st, en, MASK)
    # transitions[i, j] is a move from i to j (pytorch-crf): checked by the brute force.
    np.testing.assert_allclose(_np(crf.decode(p, MASK)[1]), [s.max() for _, s, _, _ in brute], 1e-5)
    np.testing.assert_allclose(_np(crf.marginals(p, MASK))[0], brute[0][3], atol=1e-5)
    np.testing.assert_array_equal(_np(crf(p)), p)


def _bad(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_bad_inputs():
    p, tr, st, en = _params(6)
    crf = CRF(K)
    tags = np.zeros((B, T), "int32")
    _bad(lambda: crf.log_likelihood(p, tags + K, None), r"tags must be in \[0, 2\].*got values")
    _bad(lambda: crf.log_likelihood(p, tags - 1, None), r"tags must be in \[0, 2\]")
    _bad(lambda: crf.log_likelihood(p, tags[:2], None), "different batch sizes")
    _bad(lambda: crf.log_likelihood(p, tags[:, :3], None), "different time sizes")
    _bad(lambda: crf.decode(p, MASK[:, :3]), "different time sizes")
    empty = MASK.copy()
    empty[1] = False
    _bad(lambda: crf.log_likelihood(p, tags, empty), r"rows \[1\] are all False")
    _bad(lambda: CRF(K + 1).decode(p), "num_tags=4 but the potentials' last axis is 3")
    _bad(lambda: CRF(K + 1)(p), "num_tags=4")
    _bad(lambda: crf.decode(p[0]), "rank 3")
    _bad(lambda: crf.log_likelihood(p, tags.astype("float32")), "integer tags")
    _bad(lambda: CRF(0), "positive integer num_tags")
    _bad(lambda: crf_decode(p, np.zeros((K + 1, K + 1)), st, en), "num_tags=4")


def _tagger(num_words=20, num_tags=K):
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(num_words, 8)(inputs)
    potentials = keras.layers.Dense(num_tags)(h)
    crf = CRF(num_tags, name="crf")
    return keras.Model(inputs, crf(potentials)), crf


# Compiled training on every backend: XLA on TensorFlow, jax.jit, and torch.compile on
# torch, where the CRF's fast path (an autograd.Function) runs under dynamo (the generic
# per-step loop took ~210 s to compile on 2 cores; the fast path 30-90 s).
JIT_MODES = [False, True]


@pytest.mark.parametrize("jit_compile", JIT_MODES)
def test_fit_with_nll_loss_and_decode(jit_compile):
    # Eager JAX re-traces lax.scan at every step (~5 s a step here): a short fit that
    # checks the loss and that it falls; the compiled modes train to a good tagging.
    short = not jit_compile and keras.backend.backend() == "jax"
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(32, 6)).astype("int32")
    y = (x % K).astype("int32")  # a learnable tagging
    lengths = rng.integers(2, 7, size=32)
    pad = np.arange(6)[None] >= lengths[:, None]
    x[pad] = 0
    y[pad] = -1
    model, crf = _tagger()
    model.compile(keras.optimizers.Adam(0.05), loss=crf.loss, jit_compile=jit_compile)
    loss0 = float(model.evaluate(x, y, verbose=0))
    # The compiled loss is the mean NLL over the batch.
    ref = -np.mean(_np(crf.log_likelihood(model.predict(x, verbose=0), np.maximum(y, 0), ~pad)))
    np.testing.assert_allclose(loss0, ref, rtol=1e-4)
    if short:
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        assert float(model.evaluate(x, y, verbose=0)) < 0.9 * loss0
        return
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * loss0
    tags, _ = crf.decode(model.predict(x, verbose=0), ~pad)
    tags = _np(tags)
    assert (tags[~pad] == y[~pad]).mean() > 0.9
    assert (tags[pad] == 0).all()


def test_save_load_round_trip(tmp_path):
    model, crf = _tagger()
    x = np.random.default_rng(0).integers(1, 20, size=(4, 5)).astype("int32")
    path = tmp_path / "crf.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    crf2 = loaded.get_layer("crf")
    assert isinstance(crf2, CRF) and crf2.num_tags == K
    p1, p2 = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    np.testing.assert_allclose(p1, p2)
    for a, b in zip(crf.get_weights(), crf2.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_np(crf.decode(p1)[0]), _np(crf2.decode(p2)[0]))
    np.testing.assert_allclose(_np(crf.marginals(p1)), _np(crf2.marginals(p2)))


# --- the torch fast path (rnnkit.ops.crf_torch) against this backend's generic path ---


def _torch_fast_grads(p, tr, st, en, tags, mask):
    """Sum of log-likelihoods and its gradients with the torch fast path (any backend)."""
    import torch

    from rnnkit.ops.crf import crf_sequence_score
    from rnnkit.ops.crf_torch import torch_log_partition

    xs = [torch.tensor(a, requires_grad=True) for a in (p, tr, st, en)]
    m = torch.tensor(mask)
    t = torch.where(m, torch.tensor(tags), 0)
    if keras.backend.backend() == "torch":
        numerator = crf_sequence_score(xs[0], t, *xs[1:], m)
    else:  # the numerator is plain keras.ops: recompute it in torch for this check
        numerator = _torch_sequence_score(xs, t, m)
    value = (numerator - torch_log_partition(*xs, m)).sum()
    value.backward()
    return float(value), [x.grad.numpy() for x in xs]


def _torch_sequence_score(xs, tags, mask):

    p, tr, st, en = xs
    emit = p.gather(2, tags.unsqueeze(2)).squeeze(2)
    score = (emit * mask).sum(1) + st[tags[:, 0]]
    score = score + (tr[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]).sum(1)
    last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)
    return score + en[last]


FAST_CASES = {
    "masked": dict(seed=7, masked=True),
    "full": dict(seed=8, masked=False),
    "large_scores": dict(seed=9, masked=True, scale=500.0),
    # transitions spanning more than 50: the matmul form could underflow, log-space runs
    "forbidden_transitions": dict(seed=10, masked=True, forbid=True),
    "one_step": dict(seed=11, masked=True, steps=1),
    "float64": dict(seed=12, masked=True, dtype="float64"),
}


def _fast_case(cfg):
    """Potentials, weights, a right-padded mask and tags of a FAST_CASES entry."""
    rng = np.random.default_rng(cfg["seed"])
    b, t, k = 5, cfg.get("steps", 9), 4
    dtype = cfg.get("dtype", "float32")
    p = (rng.normal(size=(b, t, k)) * 2 * cfg.get("scale", 1.0)).astype(dtype)
    tr = rng.normal(size=(k, k)).astype(dtype)
    if cfg.get("forbid"):
        tr[0, 1] = tr[2, 3] = -1e4
    st, en = rng.normal(size=k).astype(dtype), rng.normal(size=k).astype(dtype)
    lengths = rng.integers(1, t + 1, size=b) if cfg["masked"] else np.full(b, t)
    lengths[0] = t
    mask = np.arange(t)[None] < lengths[:, None]
    tags = rng.integers(0, k, size=(b, t)).astype("int32")
    return p, tr, st, en, mask, tags


@pytest.mark.parametrize("case", list(FAST_CASES), ids=list(FAST_CASES))
def test_torch_fast_path_matches_generic_path(case):
    import torch

    from rnnkit.ops import crf_torch

    cfg = FAST_CASES[case]
    dtype = cfg.get("dtype", "float32")
    p, tr, st, en, mask, tags = _fast_case(cfg)
    # the probability-space (matmul) form runs unless the transitions span more than 50
    assert crf_torch._exp_space_ok(torch.tensor(tr)) == (not cfg.get("forbid"))

    def generic(p_, tr_, st_, en_):
        return ops.sum(
            crf_log_likelihood(p_, tags, tr_, st_, en_, mask, validate=False, fast_path=False)
        )

    ref = _np(generic(p, tr, st, en))
    ref_value = float(ref)
    ref_grads = function_gradients(generic, [p, tr, st, en])
    value, grads = _torch_fast_grads(p, tr, st, en, tags, mask)
    # (JAX without x64 computes the float64 case in float32)
    exact = dtype == "float64" and ref.dtype == np.float64
    tol = dict(rtol=1e-10, atol=1e-9) if exact else dict(rtol=1e-5, atol=1e-4)
    # Closed-form marginals exp(alpha + beta - log Z) resolve scores of ~1e4 (scale 500)
    # to float32's ~1e-3 there; autograd's chain of local softmaxes does not subtract
    # them. A marginal error of 1e-3 is the float32 limit of forward-backward itself.
    grad_tol = dict(rtol=1e-5, atol=2e-3) if "scale" in cfg else tol
    np.testing.assert_allclose(value, ref_value, **tol)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, **grad_tol)
    assert np.abs(grads[0][~mask]).max(initial=0.0) == 0.0  # no gradient into padding

    # the raw-torch numerator equals the generic (keras.ops) path score
    from rnnkit.ops.crf import crf_sequence_score

    kept = np.where(mask, tags, 0)
    got_num = crf_torch.torch_sequence_score(*map(torch.tensor, (p, kept, tr, st, en, mask)))
    np.testing.assert_allclose(
        got_num.numpy(), _np(crf_sequence_score(p, tags, tr, st, en, mask)), **tol
    )

    ref_tags, ref_scores = crf_decode(p, tr, st, en, mask, fast_path=False)
    tags_fast, scores_fast = crf_torch.torch_viterbi(*map(torch.tensor, (p, tr, st, en, mask)))
    assert tags_fast.dtype == torch.int32
    np.testing.assert_array_equal(tags_fast.numpy(), _np(ref_tags))
    np.testing.assert_allclose(scores_fast.numpy(), _np(ref_scores), **tol)

    ref_marg = _np(crf_marginals(p, tr, st, en, mask, fast_path=False))
    log_z, alphas, betas = crf_torch.torch_forward_backward(
        *map(torch.tensor, (p, tr, st, en, mask))
    )
    marg = np.where(mask[..., None], np.exp((alphas + betas - log_z[:, None, None]).numpy()), 0)
    np.testing.assert_allclose(marg, ref_marg, **grad_tol)


def _jax_fast_grads(p, tr, st, en, tags, mask):
    """Sum of log-likelihoods and its gradients with the JAX fast path (any backend): the
    numerator in jax.numpy, log Z from rnnkit.ops.crf_jax."""
    import jax
    import jax.numpy as jnp

    from rnnkit.ops.crf_jax import jax_log_partition

    m = jnp.asarray(mask)
    t = jnp.where(m, jnp.asarray(tags), 0)

    def total(p_, tr_, st_, en_):
        emit = jnp.take_along_axis(p_, t[:, :, None], axis=2)[:, :, 0]
        score = jnp.sum(emit * m, axis=1) + st_[t[:, 0]]
        score = score + jnp.sum(tr_[t[:, :-1], t[:, 1:]] * m[:, 1:], axis=1)
        last = jnp.take_along_axis(t, (jnp.sum(m, axis=1) - 1)[:, None], axis=1)[:, 0]
        return jnp.sum(score + en_[last] - jax_log_partition(p_, tr_, st_, en_, m))

    arrays = [jnp.asarray(a) for a in (p, tr, st, en)]
    value, grads = jax.jit(jax.value_and_grad(total, argnums=(0, 1, 2, 3)))(*arrays)
    return float(value), [np.asarray(g) for g in grads]


@pytest.mark.parametrize("case", list(FAST_CASES), ids=list(FAST_CASES))
def test_jax_fast_path_matches_generic_path(case):
    """log Z and its closed-form gradients (rnnkit.ops.crf_jax) against the generic path
    of the current backend, in probability space and (transitions spanning more than 50)
    in log space."""
    cfg = FAST_CASES[case]
    p, tr, st, en, mask, tags = _fast_case(cfg)

    def generic(p_, tr_, st_, en_):
        return ops.sum(
            crf_log_likelihood(p_, tags, tr_, st_, en_, mask, validate=False, fast_path=False)
        )

    ref_value = float(_np(generic(p, tr, st, en)))
    ref_grads = function_gradients(generic, [p, tr, st, en])
    value, grads = _jax_fast_grads(p, tr, st, en, tags, mask)
    # JAX without x64 computes the float64 case in float32; the generic reference of a
    # scale-500 case resolves its marginals to float32's ~1e-3 (see the torch test above)
    tol = dict(rtol=1e-5, atol=1e-4)
    grad_tol = dict(rtol=1e-5, atol=2e-3) if "scale" in cfg else tol
    np.testing.assert_allclose(value, ref_value, **tol)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, **grad_tol)
    assert np.abs(grads[0][~mask]).max(initial=0.0) == 0.0  # no gradient into padding


def _tf_fast_grads(p, tr, st, en, tags, mask, jit_compile=False):
    """Sum of log-likelihoods and its gradients with the TensorFlow fast path (any
    backend): the numerator in TensorFlow, log Z from rnnkit.ops.crf_tf, in a
    ``tf.function`` (XLA with ``jit_compile``) whose time axis is unknown when traced."""
    import tensorflow as tf

    from rnnkit.ops.crf_tf import tf_log_partition

    m = tf.constant(mask)
    t = tf.where(m, tf.constant(tags), 0)
    maskf = tf.cast(m, p.dtype)

    def total(p_, tr_, st_, en_):
        emit = tf.gather(p_, t, axis=2, batch_dims=2)
        score = tf.reduce_sum(emit * maskf, axis=1) + tf.gather(st_, t[:, 0])
        pairs = tf.gather(tf.reshape(tr_, [-1]), t[:, :-1] * tr_.shape[0] + t[:, 1:])
        score = score + tf.reduce_sum(pairs * maskf[:, 1:], axis=1)
        lengths = tf.reduce_sum(tf.cast(m, tf.int32), axis=1)
        last = tf.gather(t, lengths - 1, axis=1, batch_dims=1)
        return tf.reduce_sum(score + tf.gather(en_, last) - tf_log_partition(p_, tr_, st_, en_, m))

    spec = [tf.TensorSpec([None, None, p.shape[2]], p.dtype)] + [
        tf.TensorSpec(a.shape, a.dtype) for a in (tr, st, en)
    ]

    @tf.function(input_signature=spec, jit_compile=jit_compile)
    def value_and_grads(p_, tr_, st_, en_):
        with tf.GradientTape() as tape:
            tape.watch([p_, tr_, st_, en_])
            value = total(p_, tr_, st_, en_)
        return value, tape.gradient(value, [p_, tr_, st_, en_])

    value, grads = value_and_grads(*[tf.constant(a) for a in (p, tr, st, en)])
    return float(value), [g.numpy() for g in grads]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("case", list(FAST_CASES), ids=list(FAST_CASES))
def test_tf_fast_path_matches_generic_path(case, jit_compile):
    """log Z and its closed-form gradients (rnnkit.ops.crf_tf) against the generic path
    of the current backend, in probability space and (transitions spanning more than 50)
    in log space, traced with an unknown length, with and without XLA."""
    cfg = FAST_CASES[case]
    p, tr, st, en, mask, tags = _fast_case(cfg)

    def generic(p_, tr_, st_, en_):
        return ops.sum(
            crf_log_likelihood(p_, tags, tr_, st_, en_, mask, validate=False, fast_path=False)
        )

    ref = _np(generic(p, tr, st, en))
    ref_grads = function_gradients(generic, [p, tr, st, en])
    value, grads = _tf_fast_grads(p, tr, st, en, tags, mask, jit_compile)
    exact = cfg.get("dtype") == "float64" and ref.dtype == np.float64
    tol = dict(rtol=1e-10, atol=1e-9) if exact else dict(rtol=1e-5, atol=1e-4)
    grad_tol = dict(rtol=1e-5, atol=2e-3) if "scale" in cfg else tol
    np.testing.assert_allclose(value, float(ref), **tol)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, **grad_tol)
    assert np.abs(grads[0][~mask]).max(initial=0.0) == 0.0  # no gradient into padding


def test_tf_fast_path_keeps_precision_over_long_sequences():
    """At T=400, K=30 the closed-form gradients equal float64 forward-backward to 1e-5,
    eagerly; a matmul-space and a log-space case."""
    import tensorflow as tf

    from rnnkit.ops.crf_tf import tf_log_partition

    rng = np.random.default_rng(21)
    b, t, k = 3, 400, 30
    p = rng.normal(size=(b, t, k)) * 3
    tr, st, en = rng.normal(size=(k, k)), rng.normal(size=k), rng.normal(size=k)
    mask = np.arange(t)[None] < np.array([t, 301, 17])[:, None]
    for forbid in (False, True):
        if forbid:
            tr = tr.copy()
            tr[0, 1] = tr[2, 3] = -1e4
        ref = _np_log_z_gradients(p, tr, st, en, mask)
        f32 = [tf.constant(a.astype("float32")) for a in (p, tr, st, en)]
        with tf.GradientTape() as tape:
            tape.watch(f32)
            value = tf.reduce_sum(tf_log_partition(*f32, mask))
        for g, r in zip(tape.gradient(value, f32), ref):
            np.testing.assert_allclose(g.numpy(), r, rtol=1e-4, atol=1e-5)


def _np_log_z_gradients(p, tr, st, en, mask):
    """Float64 NumPy forward-backward: the gradients of sum(log Z) (marginals)."""
    from scipy.special import logsumexp

    b, t, k = p.shape
    lengths = mask.sum(1)
    g_p, g_tr = np.zeros_like(p), np.zeros_like(tr)
    g_st, g_en = np.zeros_like(st), np.zeros_like(en)
    for r in range(b):
        n = lengths[r]
        alpha = np.zeros((n, k))
        alpha[0] = st + p[r, 0]
        for i in range(1, n):
            alpha[i] = logsumexp(alpha[i - 1][:, None] + tr, axis=0) + p[r, i]
        beta = np.zeros((n, k))
        beta[n - 1] = en
        for i in range(n - 2, -1, -1):
            beta[i] = logsumexp(tr + (p[r, i + 1] + beta[i + 1])[None], axis=1)
        z = logsumexp(alpha[n - 1] + en)
        marg = np.exp(alpha + beta - z)
        g_p[r, :n] = marg
        g_st += marg[0]
        g_en += marg[n - 1]
        for i in range(1, n):
            g_tr += np.exp(alpha[i - 1][:, None] + tr + (p[r, i] + beta[i])[None] - z)
    return [g_p, g_tr, g_st, g_en]


def test_jax_fast_path_keeps_precision_over_long_sequences():
    """At T=400, K=30 the closed-form gradients equal float64 forward-backward to 1e-5
    (marginals normalised per step: no log Z-sized cancellation in float32)."""
    import jax
    import jax.numpy as jnp

    from rnnkit.ops.crf_jax import jax_log_partition

    rng = np.random.default_rng(21)
    b, t, k = 3, 400, 30
    p = rng.normal(size=(b, t, k)) * 3
    tr, st, en = rng.normal(size=(k, k)), rng.normal(size=k), rng.normal(size=k)
    mask = np.arange(t)[None] < np.array([t, 301, 17])[:, None]
    ref = _np_log_z_gradients(p, tr, st, en, mask)
    f32 = [jnp.asarray(a.astype("float32")) for a in (p, tr, st, en)]
    got = jax.grad(lambda *a: jnp.sum(jax_log_partition(*a, mask)), argnums=(0, 1, 2, 3))(*f32)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-4, atol=1e-5)


def test_fast_paths_are_used_exactly_on_their_backend(monkeypatch):
    from rnnkit.ops import crf_jax, crf_tf, crf_torch

    calls = []
    for module, name in (
        (crf_torch, "torch_log_partition"),
        (crf_torch, "torch_viterbi"),
        (crf_torch, "torch_forward_backward"),
        (crf_jax, "jax_log_partition"),
        (crf_tf, "tf_log_partition"),
    ):
        real = getattr(module, name)

        def spy(*a, _real=real, _name=name, **kw):
            calls.append(_name)
            return _real(*a, **kw)

        monkeypatch.setattr(module, name, spy)
    p, tr, st, en = _params(13)
    tags = np.zeros((B, T), "int32")
    ll = crf_log_likelihood(p, tags, tr, st, en, MASK)
    best, _ = crf_decode(p, tr, st, en, MASK)
    marg = crf_marginals(p, tr, st, en, MASK)
    crf_log_likelihood(p, tags, tr, st, en, MASK, fast_path=False)
    expected = {
        "torch": ["torch_log_partition", "torch_viterbi", "torch_forward_backward"],
        "jax": ["jax_log_partition"],
        "tensorflow": ["tf_log_partition"],
    }
    assert calls == expected.get(keras.backend.backend(), [])
    # whichever path ran, the results are the brute-force ones
    brute = _brute(p, tr, st, en, MASK)
    np.testing.assert_allclose(
        _np(ll),
        [
            _path_score(p[i], tr, st, en, tags[i, : MASK[i].sum()]) - z
            for i, (*_, z, _) in enumerate(brute)
        ],
        rtol=1e-5,
    )
    np.testing.assert_allclose(_np(marg), np.stack([m for *_, m in brute]), atol=1e-5)
    for i, (paths, scores, _, _) in enumerate(brute):
        assert tuple(_np(best)[i, : MASK[i].sum()]) == paths[int(np.argmax(scores))]


def test_torch_backtrack_on_any_device_equals_the_numpy_backtrack():
    """The torch backtrack (used off-CPU) and the NumPy one (CPU) give the same paths,
    and each step's tag is the argmax of the previous scores plus the transition."""
    import torch

    from rnnkit.ops import crf_torch

    rng = np.random.default_rng(14)
    b, t, k = 6, 9, 5
    scores = rng.normal(size=(b, t, k)).astype("float32")
    trans = rng.normal(size=(k, k)).astype("float32")
    last = np.array([8, 0, 3, 8, 1, 5])
    last_tag = rng.integers(0, k, size=b)
    ref = crf_torch._backtrack_numpy(scores, trans, last, last_tag)
    got = crf_torch._backtrack_torch(*map(torch.as_tensor, (scores, trans, last, last_tag)))
    valid = np.arange(t)[None] <= last[:, None]
    np.testing.assert_array_equal(got.numpy()[valid], ref[valid])
    for row in range(b):
        assert ref[row, last[row]] == last_tag[row]
        for step in range(1, last[row] + 1):
            expected = np.argmax(scores[row, step - 1] + trans[:, ref[row, step]])
            assert ref[row, step - 1] == expected
