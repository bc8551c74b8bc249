"""rnnkit's SimpleRNN / LSTM / GRU against keras.layers and a NumPy implementation."""

import keras
import numpy as np
import pytest
from helpers import (
    as_list,
    gradients,
    hard_sigmoid_k2,
    masks,
    max_diff,
    no_grad,
    np_run,
    sum_sq,
    to_np,
)

from rnnkit.cells import LSTMCell
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, SimpleRNN, planner
from rnnkit.ops.recurrence import BACKEND_LOOPS

B, T, D, U = 4, 6, 5, 3
TOL = 1e-5

KINDS = {
    "srnn": (SimpleRNN, keras.layers.SimpleRNN, {}),
    "srnn_relu": (SimpleRNN, keras.layers.SimpleRNN, {"activation": "relu"}),
    "lstm": (LSTM, keras.layers.LSTM, {}),
    "lstm_nobias": (LSTM, keras.layers.LSTM, {"use_bias": False}),
    "gru": (GRU, keras.layers.GRU, {}),
    "gru_reset_before": (GRU, keras.layers.GRU, {"reset_after": False}),
    "gru_nobias": (GRU, keras.layers.GRU, {"use_bias": False}),
}


def pair(kind, **kwargs):
    ours_cls, keras_cls, base = KINDS[kind]
    cfg = {**base, **kwargs}
    theirs = keras_cls(U, **cfg)
    ours = ours_cls(U, **cfg)
    theirs.build((None, T, D))
    ours.build((None, T, D))
    # random (not default-initialised) weights, biases included
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def variant(ours, batch=None, **options):
    """A built copy of ``ours`` with other runner options and the same weights (through
    the constructor: runtime options such as ``loop`` are not part of the config)."""
    config = {**ours.get_config(), **options}
    if "seed" not in config and hasattr(ours, "cell"):
        # SimpleRNN's config (like keras.layers.SimpleRNN's) does not hold the seed
        config["seed"] = ours.cell.seed
    layer = type(ours)(**config)
    layer.build((batch, T, D))
    layer.set_weights(ours.get_weights())
    return layer


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"return_sequences": True},
        {"return_state": True},
        {"go_backwards": True, "return_sequences": True, "return_state": True},
    ],
    ids=["last", "seq", "state", "backwards_seq_state"],
)
def test_matches_keras(kind, mask_name, options, x):
    ours, theirs = pair(kind, **options)
    mask = masks(B, T)[mask_name]
    assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru", "gru_reset_before"])
def test_initial_state_matches_keras(kind, x):
    ours, theirs = pair(kind, return_sequences=True, return_state=True)
    rng = np.random.default_rng(3)
    states = [rng.normal(size=(B, U)).astype("float32") for _ in ours.state_size]
    mask = masks(B, T)["right"]
    got = ours(x, initial_state=states, mask=mask)
    want = theirs(x, initial_state=states, mask=mask)
    assert max_diff(got, want) < TOL


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("mask_name", ["none", "left"])
def test_gradients_match_keras(kind, mask_name, x):
    ours, theirs = pair(kind, return_sequences=True, go_backwards=mask_name == "left")
    mask = masks(B, T)[mask_name]
    g_ours = gradients(ours, x, sum_sq, mask=mask)
    g_keras = gradients(theirs, x, sum_sq, mask=mask)
    assert len(g_ours) == len(g_keras)
    for a, b in zip(g_ours, g_keras):
        assert np.abs(a - b).max() < 1e-4


@pytest.mark.parametrize(
    "kind,kwargs,np_kwargs",
    [
        ("srnn", {}, {}),
        ("srnn", {"activation": "relu"}, {"act": lambda v: np.maximum(v, 0)}),
        ("lstm", {}, {}),
        (
            "lstm",
            {"recurrent_activation": "keras2_hard_sigmoid"},
            {"ract": hard_sigmoid_k2},
        ),
        ("gru", {"reset_after": True}, {"reset_after": True}),
        ("gru", {"reset_after": False}, {"reset_after": False}),
        (
            "gru",
            {"reset_after": False, "recurrent_activation": "keras2_hard_sigmoid"},
            {"reset_after": False, "ract": hard_sigmoid_k2},
        ),
    ],
)
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_numpy_equations(kind, kwargs, np_kwargs, mask_name, go_backwards, x):
    cls = {"srnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[kind]
    layer = cls(U, return_sequences=True, return_state=True, go_backwards=go_backwards, **kwargs)
    layer.build((None, T, D))
    rng = np.random.default_rng(2)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    mask = masks(B, T)[mask_name]
    out, *states = layer(x, mask=mask)
    ref_out, ref_states = np_run(
        kind,
        [w.astype("float64") for w in layer.get_weights()],
        x.astype("float64"),
        mask=mask,
        go_backwards=go_backwards,
        **np_kwargs,
    )
    assert np.abs(to_np(out) - ref_out).max() < TOL
    for s, r in zip(states, ref_states):
        assert np.abs(to_np(s) - r).max() < TOL


def test_keras2_hard_sigmoid_differs_from_keras3():
    from rnnkit.ops import keras2_hard_sigmoid

    v = np.linspace(-4, 4, 17).astype("float32")
    assert np.allclose(to_np(keras2_hard_sigmoid(v)), np.clip(0.2 * v + 0.5, 0, 1))
    keras3 = to_np(keras.activations.hard_sigmoid(v))
    assert np.abs(keras3 - np.clip(0.2 * v + 0.5, 0, 1)).max() > 0.05


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru"])
def test_unroll_matches_loop(kind, x):
    ours, _ = pair(kind, return_sequences=True, return_state=True)
    unrolled = type(ours).from_config({**ours.get_config(), "unroll": True})
    unrolled.build((None, T, D))
    unrolled.set_weights(ours.get_weights())
    mask = masks(B, T)["left"]
    assert max_diff(unrolled(x, mask=mask), ours(x, mask=mask)) < TOL


def test_weight_names_and_layout_like_keras():
    for ours_cls, keras_cls, extra in [
        (SimpleRNN, keras.layers.SimpleRNN, {}),
        (LSTM, keras.layers.LSTM, {}),
        (GRU, keras.layers.GRU, {}),
        (GRU, keras.layers.GRU, {"reset_after": False}),
    ]:
        ours, theirs = ours_cls(U, **extra), keras_cls(U, **extra)
        ours.build((None, T, D))
        theirs.build((None, T, D))
        assert [w.name for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
        assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


def test_unit_forget_bias():
    layer = LSTM(U)
    layer.build((None, T, D))
    bias = to_np(layer.cell.bias)
    assert np.all(bias[U : 2 * U] == 1) and np.all(bias[:U] == 0) and np.all(bias[2 * U :] == 0)
    layer = LSTM(U, unit_forget_bias=False)
    layer.build((None, T, D))
    assert np.all(to_np(layer.cell.bias) == 0)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_dropout_masks_fixed_over_time(cls):
    # constant input over time, zero recurrent kernel: every step then sees the same
    # dropped input, so all step outputs are equal only if the mask is fixed over time.
    layer = cls(8, dropout=0.5, return_sequences=True, recurrent_initializer="zeros", seed=3)
    x = np.ones((16, 5, 10), "float32")
    y_train = to_np(layer(x, training=True))
    y_eval = to_np(layer(x, training=False))
    ref = cls(8, return_sequences=True, recurrent_initializer="zeros")
    ref.build((None, 5, 10))
    ref.set_weights(layer.get_weights())
    assert np.allclose(y_eval, to_np(ref(x)), atol=TOL)
    if cls is SimpleRNN:
        assert np.allclose(y_train, y_train[:, :1], atol=TOL)
    assert np.abs(y_train - y_eval).max() > 1e-3
    # different rows of the batch get different masks
    assert np.abs(y_train[0] - y_train[1]).max() > 1e-6


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_recurrent_dropout_only_in_training(cls, x):
    layer = cls(U, recurrent_dropout=0.5, return_sequences=True)
    ref = cls(U, return_sequences=True)
    layer.build((None, T, D))
    ref.build((None, T, D))
    ref.set_weights(layer.get_weights())
    assert max_diff(layer(x, training=False), ref(x)) < TOL
    assert max_diff(layer(x, training=True), ref(x)) > 1e-4


def test_stateful_equals_one_long_sequence(x):
    full = LSTM(U, return_sequences=True)
    full.build((B, T, D))
    stateful = LSTM(U, return_sequences=True, stateful=True)
    stateful.build((B, 3, D))
    # the state variables are tracked (non-trainable) weights, so they save with the
    # model and thread through JAX's stateless calls; the cell holds the Keras weights
    assert len(stateful.non_trainable_weights) == 2
    stateful.cell.set_weights(full.get_weights())
    y1 = to_np(stateful(x[:, :3]))
    y2 = to_np(stateful(x[:, 3:]))
    assert np.abs(np.concatenate([y1, y2], 1) - to_np(full(x))).max() < TOL
    stateful.reset_states()
    assert np.abs(to_np(stateful(x[:, :3])) - y1).max() < TOL


def test_stateful_model_trains_and_carries_state(x):
    # fit() on a stateful layer: the stored state is read, used in the backward pass and
    # overwritten by the new state (on torch this once failed: an in-place update of a
    # tensor the backward pass needed).
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3, D), batch_size=B)
    layer = LSTM(U, return_sequences=True, stateful=True)
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    target = np.ones((B, 3, 1), "float32")
    losses = [model.train_on_batch(x[:, :3], target) for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    state = to_np(layer.states[0])
    assert np.abs(state).max() > 0  # the final state of the last batch is kept
    model.predict_on_batch(x[:, 3:])
    assert np.abs(to_np(layer.states[0]) - state).max() > 0  # and moves on
    layer.reset_states()
    assert np.abs(to_np(layer.states[0])).max() == 0


def test_rnn_runner_with_cell_matches_layer(x):
    from rnnkit.cells import GRUCell

    layer = GRU(U, return_sequences=True)
    layer.build((None, T, D))
    runner = RNN(GRUCell(U), return_sequences=True)
    runner.build((None, T, D))
    runner.set_weights(layer.get_weights())
    assert max_diff(runner(x), layer(x)) < TOL


# every loop this backend has: its own fast loop, keras.ops.scan (not on TensorFlow, where
# it cannot return per-step outputs) and the Python-unrolled reference
LOOP_CASES = sorted(
    {"unrolled", "scan", BACKEND_LOOPS[keras.backend.backend()]}
    - ({"scan"} if keras.backend.backend() == "tensorflow" else set())
)


@pytest.mark.parametrize("loop", LOOP_CASES)
@pytest.mark.parametrize("kind", ["srnn", "srnn_relu", "lstm", "gru", "gru_reset_before"])
def test_every_loop_matches_unrolled_reference(loop, kind, x):
    ours, _ = pair(kind, return_sequences=True, return_state=True)
    looped = type(ours)(**{**ours.get_config(), "use_fused": False, "loop": loop})
    ref = type(ours).from_config({**ours.get_config(), "unroll": True})
    for layer in (looped, ref):
        layer.build((None, T, D))
        layer.set_weights(ours.get_weights())
    for mask in masks(B, T).values():
        assert max_diff(looped(x, mask=mask), ref(x, mask=mask)) < TOL
    for a, b in zip(gradients(looped, x, sum_sq), gradients(ref, x, sum_sq)):
        assert np.abs(a - b).max() < 1e-4


class _FromInitialState(keras.Layer):
    """Runs ``layer`` from initial states computed from the input, so that input
    gradients also flow through the initial states."""

    def __init__(self, layer, n_states, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.n_states = n_states
        self.supports_masking = True

    def call(self, x, mask=None, training=None):
        states = [keras.ops.tanh(x[:, i, :U]) for i in range(self.n_states)]
        return self.layer(x, initial_state=states, mask=mask, training=training)


@pytest.mark.parametrize("loop", LOOP_CASES)
@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_every_loop_gradients_with_recurrent_dropout_and_initial_state(loop, kind, go_backwards, x):
    # The recurrent matmul's backward differs per loop (TensorFlow's loop multiplies by
    # a kernel transposed before the loop, rnnkit.backend.tensorflow): gradients
    # through the recurrent dropout mask, the reset-before GRU's kernel slices and the
    # initial states must equal the unrolled reference's.
    ours, _ = pair(
        kind,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        recurrent_dropout=0.3,
        seed=7,
    )
    n_states = 2 if kind == "lstm" else 1
    looped, ref = (
        _FromInitialState(variant(ours, **options), n_states)
        for options in ({"use_fused": False, "loop": loop}, {"unroll": True})
    )
    # same seed, one call each: the same dropout masks (and dropout does act)
    assert max_diff(looped(x, training=True), ref(x, training=True)) < TOL
    assert max_diff(looped(x, training=True), looped(x)) > 1e-3
    ref(x, training=True)  # keep the two seed generators in step
    grads = [gradients(layer, x, sum_sq, training=True) for layer in (looped, ref)]
    for a, b in zip(*grads):
        assert np.abs(a - b).max() < 1e-4
    mask = masks(B, T)["left"]
    grads = [gradients(layer, x, sum_sq, mask=mask) for layer in (looped, ref)]
    for a, b in zip(*grads):
        assert np.abs(a - b).max() < 1e-4


def test_recurrent_matmul_fast_path_only_in_backend_loop(x, recorded_plans):
    from rnnkit import backend as module

    backend = keras.backend.backend()

    def last_plan():
        return recorded_plans[-1][1]

    # the backend's own loop takes its fast path; the others (the references) do not
    LSTM(U, use_fused=False)(x)
    if planner.xla_cpu():
        assert last_plan().name == "jax.scan_batched_grads"  # records its own matmuls
    elif backend == "torch":
        assert last_plan().name == "torch.lstm_closed_form"  # training: its own matmuls
    else:
        assert last_plan().matmul == {"tensorflow": "tf_pretransposed"}.get(backend, "generic")
    LSTM(U, unroll=True)(x)
    assert last_plan().matmul == "generic"
    with no_grad():  # torch inference: the column-major products
        SimpleRNN(U, use_fused=False)(x)
    expected = {"tensorflow": "tf_pretransposed", "torch": "torch_colmajor"}
    assert last_plan().matmul == expected.get(backend, "generic")
    # the cell makes the matmul the plan names
    cell = LSTM(U).cell
    cell.build((None, D))
    assert type(cell.loop_matmul("generic")) is module.RecurrentMatmul
    fast = expected.get(backend)
    if fast is not None:
        made = type(cell.loop_matmul(fast)).__name__
        assert (
            made
            == {"tensorflow": "TFPretransposedMatmul", "torch": "TorchColumnMajorMatmul"}[backend]
        )
    eye = np.eye(3, dtype="float32")
    if backend != "tensorflow":
        LSTM(U, use_fused=False, loop="scan")(x)
        assert last_plan().matmul == "generic"
        with pytest.raises(ValueError, match="needs the tensorflow backend"):
            module.recurrent_matmul(eye, "tf_pretransposed")
    with pytest.raises(ValueError, match="Unknown recurrent matmul fast path"):
        module.recurrent_matmul(eye, "cuda")


@pytest.mark.parametrize("kind", ["srnn", "srnn_relu", "lstm", "lstm_nobias", "gru", "gru_nobias"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_path_matches_generic(kind, go_backwards, x):
    ours, _ = pair(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    generic = type(ours)(**{**ours.get_config(), "use_fused": False})
    generic.build((None, T, D))
    generic.set_weights(ours.get_weights())
    assert max_diff(ours(x), generic(x)) < TOL
    g1 = gradients(ours, x, sum_sq)
    g2 = gradients(generic, x, sum_sq)
    for a, b in zip(g1, g2):
        assert np.abs(a - b).max() < 1e-4
    has_fused = keras.backend.backend() == "torch"  # on TF/JAX the fused kernels need a GPU
    if has_fused:
        forced = type(ours)(**{**ours.get_config(), "use_fused": True})
        forced.build((None, T, D))
        forced.set_weights(ours.get_weights())
        assert max_diff(forced(x), generic(x)) < TOL


@pytest.fixture
def colmajor_calls(recorded_plans):
    """Grows by one each time a layer call's loop runs torch's column-major matmul."""
    return PathsRun(recorded_plans, lambda plan: plan.matmul == "torch_colmajor")


def without_colmajor():
    """Plans inside skip the column-major matmul (the row-major loop runs)."""
    return planner.excluding("torch_colmajor")


COLMAJOR_KINDS = {
    "srnn_relu": ("srnn_relu", {}),
    "lstm": ("lstm", {}),
    "lstm_nobias": ("lstm_nobias", {}),
    "lstm_hard_sigmoid": ("lstm", {"recurrent_activation": "keras2_hard_sigmoid"}),
    "gru": ("gru", {}),
    "gru_reset_before": ("gru_reset_before", {}),
    "gru_nobias": ("gru_nobias", {}),
}


@pytest.mark.parametrize("kind", list(COLMAJOR_KINDS))
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("initial", [False, True])
def test_torch_colmajor_inference_matches_generic(
    kind, mask_name, go_backwards, initial, x, colmajor_calls
):
    # torch inference runs the generic loop's products as R^T h^T in column-major
    # layout (rnnkit.backend.torch): the same values as the row-major loop.
    base, extra = COLMAJOR_KINDS[kind]
    ours = variant(
        pair(base)[0],
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        zero_output_for_mask=initial,
        use_fused=False,
        **extra,
    )
    rng = np.random.default_rng(5)
    states = None
    if initial:
        n_states = 2 if base.startswith("lstm") else 1
        states = [rng.normal(size=(B, U)).astype("float32") for _ in range(n_states)]
    kwargs = {"mask": masks(B, T)[mask_name], "initial_state": states}
    with no_grad():
        fast = ours(x, **kwargs)
    assert colmajor_calls == ([True] if keras.backend.backend() == "torch" else [])
    with no_grad(), without_colmajor():
        generic = ours(x, **kwargs)
    assert colmajor_calls == ([True] if keras.backend.backend() == "torch" else [])
    assert max_diff(fast, generic) < TOL
    # with gradients recorded the row-major loop runs (and agrees as well)
    assert max_diff(ours(x, **kwargs), fast) < TOL


def assert_stateful_halves_match(full, x):
    """A stateful copy of ``full`` run on the two halves of ``x`` without gradients (as
    in ``predict``) gives ``full``'s outputs on the whole sequence."""
    stateful = type(full).from_config({**full.get_config(), "stateful": True})
    stateful.build((B, 3, D))
    stateful.cell.set_weights(full.get_weights())
    with no_grad():
        halves = [to_np(stateful(x[:, :3])), to_np(stateful(x[:, 3:]))]
    assert np.abs(np.concatenate(halves, 1) - to_np(full(x))).max() < TOL


def test_torch_colmajor_in_predict_stateful_and_mixed_precision(x, colmajor_calls):
    torch_backend = keras.backend.backend() == "torch"
    layer = variant(
        pair("lstm")[0], return_sequences=True, recurrent_activation="keras2_hard_sigmoid"
    )
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, layer(inputs))
    predicted = model.predict(x, verbose=0)
    assert len(colmajor_calls) == (1 if torch_backend else 0)
    assert max_diff(predicted, layer(x)) < TOL
    # stateful: the carried states come back from the column-major loop
    assert_stateful_halves_match(variant(pair("gru")[0], return_sequences=True, use_fused=False), x)
    # mixed precision: bfloat16 compute, float32 kernels
    colmajor_calls.clear()
    mixed = variant(layer, dtype="mixed_bfloat16")
    with no_grad():
        fast = to_np(mixed(x)).astype("float32")
    assert colmajor_calls == ([True] if torch_backend else [])
    with no_grad(), without_colmajor():
        generic = to_np(mixed(x)).astype("float32")
    assert colmajor_calls == ([True] if torch_backend else [])
    assert np.abs(fast - generic).max() < 2e-2
    assert np.abs(fast - to_np(layer(x))).max() < 5e-2


class PathsRun:
    """``[True]`` once per recorded layer call whose plan (the path that ran, by its
    public name) matches; compares equal to such a list; ``clear()`` forgets earlier
    calls."""

    def __init__(self, rows: list, match) -> None:
        self.rows, self.match, self.start = rows, match, 0

    def hits(self) -> list:
        return [True for _, plan in self.rows[self.start :] if self.match(plan)]

    def __eq__(self, other) -> bool:
        return self.hits() == list(other)

    def __len__(self) -> int:
        return len(self.hits())

    def clear(self) -> None:
        self.start = len(self.rows)

    def __repr__(self) -> str:
        return f"PathsRun({[plan.name for _, plan in self.rows[self.start :]]})"


@pytest.fixture
def recorded_plans():
    """The plans of every recurrent layer call in the test (rnnkit.layers.planner)."""
    with planner.recording() as rows:
        yield rows


#: the plans that run torch's kernels through rnnkit.backend.torch.torch_fused
TORCH_KERNEL_PATHS = (
    "torch.fused",
    "torch.simple_rnn_inference",
    "torch.fused_right_padded",
)


@pytest.fixture
def torch_fused_calls(recorded_plans):
    """Grows by one each time a layer call runs one of torch's fused kernels."""
    return PathsRun(recorded_plans, lambda plan: plan.name in TORCH_KERNEL_PATHS)


def right_padded(lengths, steps=T):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


@pytest.mark.parametrize("kind", ["srnn", "srnn_relu", "lstm", "gru", "gru_nobias"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_fused_kernel_under_right_padded_mask(
    kind, go_backwards, zero_output, x, torch_fused_calls
):
    # On torch a right-padded mask takes the fused kernel over the whole padded batch,
    # and Keras's masking semantics are rebuilt from its outputs (rnnkit.backend.torch):
    # outputs (previous output or zeros at padded steps), the last output and the final
    # state (the initial one for an empty row) and every gradient equal the generic
    # loop's, from initial states, for lengths 0 to T.
    ours, _ = pair(kind, return_sequences=True, go_backwards=go_backwards)
    ours.zero_output_for_mask = zero_output
    generic = variant(ours, use_fused=False)
    generic.zero_output_for_mask = zero_output
    fused, reference = (_FromInitialState(layer, 1) for layer in (ours, generic))
    n_states = 2 if kind == "lstm" else 1
    fused.n_states = reference.n_states = n_states
    mask = right_padded([T, 0, 2, 5])
    torch_backend = keras.backend.backend() == "torch"
    assert max_diff(fused(x, mask=mask), reference(x, mask=mask)) < TOL
    assert torch_fused_calls == ([True] if torch_backend else [])
    for a, b in zip(*(gradients(layer, x, sum_sq, mask=mask) for layer in (fused, reference))):
        assert np.abs(a - b).max() < 1e-4
    if kind != "lstm":  # final states too (an LSTM's final cell state needs the loop)
        for layer in (ours, generic):
            layer.return_state = True
        assert max_diff(fused(x, mask=mask), reference(x, mask=mask)) < TOL
    for layer in (ours, generic):
        layer.return_sequences = False
    assert max_diff(fused(x, mask=mask), reference(x, mask=mask)) < TOL


def test_fused_kernel_not_for_other_masks_or_lstm_final_states(x, torch_fused_calls):
    # left-padded or holed masks, and an LSTM whose final cell state is returned in a
    # pass that records gradients, run the generic loop (and still match Keras)
    torch_backend = keras.backend.backend() == "torch"
    holed = right_padded([T, T, 4, 3])
    holed[0, 2] = False
    for mask in (masks(B, T)["left"], holed):
        ours, theirs = pair("gru", return_sequences=True)
        assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL
    ours, theirs = pair("lstm", return_sequences=True, return_state=True)
    mask = right_padded([T, 1, 2, 5])
    assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL
    assert torch_fused_calls == []
    ours.return_state = False
    theirs.return_state = False
    assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL
    assert torch_fused_calls == ([True] if torch_backend else [])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_final_states_under_right_padded_mask_without_gradients(
    go_backwards, x, recorded_plans
):
    # Without gradients (inference), an LSTM that returns its final states under a
    # right-padded mask runs torch's kernel over each row's real steps only (a packed
    # sequence), which gives the cell state at each row's last real step: outputs and
    # both states equal Keras's, from initial states, for lengths 0..T.
    packed_calls = PathsRun(recorded_plans, lambda plan: plan.name == "torch.lstm_packed")
    torch_backend = keras.backend.backend() == "torch"
    ours, theirs = pair("lstm", return_sequences=True, return_state=True, go_backwards=go_backwards)
    generic = variant(ours, use_fused=False)
    rng = np.random.default_rng(6)
    states = [rng.normal(size=(B, U)).astype("float32") for _ in range(2)]
    no_gradients = no_grad()
    # Keras's own JAX backend emits the initial h (not zeros, as its TensorFlow and torch
    # backends do) at masked steps before a row's first real step when initial states
    # are given, so the Keras check leaves out empty rows and go_backwards (which meets
    # the padding first); rnnkit's generic loop is the reference for those.
    cases = [([T, 0, 2, 5], generic)] + ([] if go_backwards else [([T, 1, 2, 5], theirs)])
    for lengths, reference in cases:
        mask = right_padded(lengths)
        want = reference(x, mask=mask, initial_state=states)
        assert max_diff(ours(x, mask=mask, initial_state=states), want) < TOL
        assert packed_calls == []  # with gradients: the generic loop
        with no_gradients:
            got = ours(x, mask=mask, initial_state=states)
        assert len(got) == 3
        assert max_diff(got, want) < TOL
        assert packed_calls == ([True] if torch_backend else [])
        packed_calls.clear()


@pytest.fixture
def in_place_calls(recorded_plans):
    """Grows by one each time a layer call runs the SimpleRNN steps in place
    (torch.simple_rnn_inference, also under a right-padded mask)."""
    from rnnkit.backend import torch as torch_paths

    return PathsRun(recorded_plans, lambda plan: plan.kernel in torch_paths.IN_PLACE_KINDS)


@pytest.mark.parametrize("kind", ["srnn", "srnn_relu"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("mask_name", ["none", "right_padded"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_torch_simple_rnn_inference_matches_generic(
    kind, use_bias, mask_name, go_backwards, x, in_place_calls
):
    # Without gradients (predict), a torch SimpleRNN computes each step in place in its
    # own slice of the projected inputs (rnnkit.backend.torch.torch_simple_rnn_inference):
    # outputs, last output and final state equal the generic loop's, from initial
    # states, unmasked and right-padded (lengths 0..T); with gradients torch.rnn_tanh
    # runs instead and agrees as well.
    calls = in_place_calls
    torch_backend = keras.backend.backend() == "torch"
    ours, theirs = pair(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    if not use_bias:  # the pair's kernels without its bias
        kernels = ours.get_weights()[:2]
        ours = type(ours).from_config({**ours.get_config(), "use_bias": False})
        ours.build((None, T, D))
        ours.set_weights(kernels)
    generic = variant(ours, use_fused=False)
    states = [np.random.default_rng(7).normal(size=(B, U)).astype("float32")]
    mask = None if mask_name == "none" else right_padded([T, 0, 2, 5])
    kwargs = {"mask": mask, "initial_state": states}
    with no_grad():
        fast = ours(x, **kwargs)
    assert calls == ([True] if torch_backend else [])
    with no_grad():
        want = generic(x, **kwargs)
    assert max_diff(fast, want) < TOL
    if mask is None and use_bias:
        assert max_diff(fast, theirs(x, initial_state=states)) < TOL
    assert max_diff(ours(x, **kwargs), fast) < TOL  # gradients recorded: torch.rnn_tanh
    assert len(calls) == (1 if torch_backend else 0)
    ours.return_sequences = generic.return_sequences = False
    with no_grad():
        assert max_diff(ours(x, **kwargs), generic(x, **kwargs)) < TOL


def test_torch_simple_rnn_inference_in_predict_stateful_and_mixed_precision(x, in_place_calls):
    calls = in_place_calls
    torch_backend = keras.backend.backend() == "torch"
    layer, _ = pair("srnn", return_sequences=True)
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, layer(inputs))
    calls.clear()
    predicted = model.predict(x, verbose=0)
    assert calls == ([True] if torch_backend else [])
    assert max_diff(predicted, variant(layer, use_fused=False)(x)) < TOL
    # stateful: the state carried between calls is the last step's slice
    assert_stateful_halves_match(layer, x)
    # mixed precision: bfloat16 compute, float32 kernels
    mixed = variant(layer, dtype="mixed_bfloat16")
    calls.clear()
    with no_grad():
        fast = to_np(mixed(x)).astype("float32")
    assert calls == ([True] if torch_backend else [])
    with no_grad():
        generic = to_np(variant(mixed, use_fused=False)(x)).astype("float32")
    assert np.abs(fast - generic).max() < 2e-2
    assert np.abs(fast - to_np(layer(x))).max() < 5e-2


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_keras_kernels_only_with_a_gpu(kind, x):
    # Keras's backend lstm/gru are taken for their cuDNN kernels only: Keras 3.15's JAX
    # gru is a plain lax.scan that also runs on a CPU, where rnnkit's own loop is faster.
    from rnnkit.backend import cudnn

    backend = keras.backend.backend()
    ours, _ = pair(kind, return_sequences=True)
    plan = ours.execution_plan(x)
    if backend == "torch":
        assert plan.name == "torch.fused"  # torch's own fused kernels, on any device
    elif not cudnn.gpu_available():
        assert not plan.fused and "no GPU" in plan.reasons()["fused kernel"]
        forced = type(ours)(**{**ours.get_config(), "use_fused": True})
        with pytest.raises(ValueError, match="no fused kernel applies"):
            forced(x)


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru", "gru_reset_before"])
def test_per_step_projection_matches_hoisted(kind, x):
    # the two places of the input projection (the JAX-CPU fast path and the default)
    # give the same function: outputs under every mask, gradients, and dropout with the
    # same seed
    ours, _ = pair(kind, return_sequences=True, return_state=True)
    config = {**ours.get_config(), "use_fused": False}
    layers = {}
    for projection in ("hoisted", "per_step"):
        layers[projection] = type(ours)(**{**config, "projection": projection})
        layers[projection].build((None, T, D))
        layers[projection].set_weights(ours.get_weights())
    hoisted, per_step = layers["hoisted"], layers["per_step"]
    for mask in masks(B, T).values():
        assert max_diff(per_step(x, mask=mask), hoisted(x, mask=mask)) < TOL
    for a, b in zip(gradients(per_step, x, sum_sq), gradients(hoisted, x, sum_sq)):
        assert np.abs(a - b).max() < 1e-4
    dropped = {}
    for projection in ("hoisted", "per_step"):
        layer = type(ours)(**{**config, "projection": projection, "dropout": 0.3, "seed": 7})
        layer.build((None, T, D))
        layer.set_weights(ours.get_weights())
        dropped[projection] = layer(x, training=True)
    assert max_diff(dropped["per_step"], dropped["hoisted"]) < TOL
    assert max_diff(dropped["hoisted"], hoisted(x)) > 1e-3  # dropout was on
    with pytest.raises(ValueError, match="projection"):
        type(ours)(U, projection="fused")


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("parts", [3])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_batch_split_matches_one_loop(kind, parts, go_backwards):
    # rnnkit.ops.batch_split (the TensorFlow CPU inference fast path with "auto"):
    # independent loops over row slices give the one loop's outputs, states and
    # gradients, under every mask, from given initial states, and with the same dropout
    # masks in training. 7 rows: the parts are uneven (3 + 2 + 2).
    batch = 7
    rng = np.random.default_rng(3)
    x7 = rng.normal(size=(batch, T, D)).astype("float32")
    ours, _ = pair(
        kind,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        dropout=0.2,
        recurrent_dropout=0.3,
        seed=7,
    )
    one, split = (
        variant(ours, batch, use_fused=False, batch_split=batch_split) for batch_split in (1, parts)
    )
    n_states = 2 if kind == "lstm" else 1
    states = [rng.normal(size=(batch, U)).astype("float32") for _ in range(n_states)]
    for mask in masks(batch, T).values():
        assert max_diff(split(x7, mask=mask), one(x7, mask=mask)) < TOL
        assert (
            max_diff(
                split(x7, mask=mask, initial_state=states), one(x7, mask=mask, initial_state=states)
            )
            < TOL
        )
    # same seed, one call each: the same dropout masks, split by rows
    assert max_diff(split(x7, training=True), one(x7, training=True)) < TOL
    wrapped = [_FromInitialState(layer, n_states) for layer in (split, one)]
    mask = masks(batch, T)["left"]
    assert max_diff(wrapped[0](x7, mask=mask), wrapped[1](x7, mask=mask)) < TOL
    grads = [gradients(layer, x7, sum_sq, mask=mask) for layer in wrapped]
    for a, b in zip(*grads):
        assert np.abs(a - b).max() < 1e-4


def test_batch_split_stateful_carries_each_row():
    batch = 7
    x7 = np.random.default_rng(4).normal(size=(batch, T, D)).astype("float32")
    full = LSTM(U, return_sequences=True, batch_split=1)
    full.build((batch, T, D))
    stateful = LSTM(U, return_sequences=True, stateful=True, batch_split=3)
    stateful.build((batch, 3, D))
    stateful.cell.set_weights(full.get_weights())
    y = np.concatenate([to_np(stateful(x7[:, :3])), to_np(stateful(x7[:, 3:]))], 1)
    assert np.abs(y - to_np(full(x7))).max() < TOL


def test_batch_split_auto_only_for_tensorflow_cpu_inference(x, monkeypatch):
    from rnnkit.backend import cudnn

    gpu = cudnn.gpu_available()
    tf_cpu = keras.backend.backend() == "tensorflow" and not gpu
    assert planner.batch_parts("auto", 64, False, "tf_while", gpu=gpu) == (2 if tf_cpu else 1)
    assert planner.batch_parts("auto", 64, None, "tf_while", gpu=gpu) == (2 if tf_cpu else 1)
    assert planner.batch_parts("auto", 64, True, "tf_while", gpu=gpu) == 1  # training
    assert planner.batch_parts("auto", 4, False, "tf_while", gpu=gpu) == 1  # too few rows
    assert planner.batch_parts("auto", None, False, "tf_while", gpu=gpu) == 1  # unknown batch
    assert planner.batch_parts("auto", 64, False, "unrolled", gpu=gpu) == 1
    assert planner.batch_parts(3, 64, True, "scan", gpu=gpu) == 3  # explicit: always
    assert planner.batch_parts(3, 2, True, "scan", gpu=gpu) == 2  # at most one row a part
    monkeypatch.setattr(planner, "_usable_cpus", lambda: 1)
    assert planner.batch_parts("auto", 64, False, "tf_while", gpu=gpu) == 1
    monkeypatch.undo()

    # the layer: a predict of 16 rows runs two loops on TensorFlow's CPU, one elsewhere
    # and one in training (the plans that ran, recorded as the layers were traced)
    x16 = np.concatenate([x] * 4)
    loop = BACKEND_LOOPS[keras.backend.backend()]  # (JAX's "auto" has its own fast path)
    layer = LSTM(U, use_fused=False, loop=loop)
    one = LSTM(U, use_fused=False, batch_split=1, loop=loop)
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, [layer(inputs), one(inputs)])
    one.set_weights(layer.get_weights())
    with planner.recording() as rows:
        split_out, one_out = model.predict_on_batch(x16)
    assert np.abs(split_out - one_out).max() < TOL
    parts = {layer_: plan.batch_parts for layer_, plan in rows}
    assert parts == {layer: 2 if tf_cpu else 1, one: 1}
    model.compile("sgd", "mse")
    with planner.recording() as rows:
        model.train_on_batch(x16, [np.zeros((16, U), "float32")] * 2)
    assert rows and {plan.batch_parts for _, plan in rows} == {1}
    # nor the directions of a Bidirectional layer, already two loops side by side
    bidirectional = Bidirectional(LSTM(U, use_fused=False, loop=loop))
    with planner.recording() as rows:
        keras.Model(inputs, bidirectional(inputs)).predict_on_batch(x16)
    assert len({id(layer_) for layer_, _ in rows}) == 2
    assert {plan.batch_parts for _, plan in rows} == {1}
    assert planner.batch_parts("auto", 64, False, "tf_while", concurrent_loops=2, gpu=gpu) == 1


def test_batch_split_errors():
    for bad in (0, -1, 1.5, "two", True):
        with pytest.raises(ValueError, match=r"'lstm_bad'.*`batch_split` must be 'auto'"):
            LSTM(U, batch_split=bad, name="lstm_bad")


def assert_same_gradients(first, second, x, **call_kwargs):
    """d sum_sq / d (x, weights) of the two layers agree within 1e-4."""
    grads = [gradients(layer, x, sum_sq, **call_kwargs) for layer in (first, second)]
    for a, b in zip(*grads):
        assert np.abs(a - b).max() < 1e-4


def assert_same_under_every_mask(fast, generic, x):
    """Two ``_FromInitialState`` layers agree under every mask of ``masks`` (carried
    states and outputs) and, under a left-padded one, with zeros at masked steps (as
    inside Bidirectional): outputs with and without recorded gradients, and gradients."""
    cases = [(False, mask) for mask in masks(B, T).values()] + [(True, masks(B, T)["left"])]
    for zero_output, mask in cases:
        for layer in (fast, generic):
            layer.layer.zero_output_for_mask = zero_output
        assert max_diff(fast(x, mask=mask), generic(x, mask=mask)) < TOL
        with no_grad():
            assert max_diff(fast(x, mask=mask), generic(x, mask=mask)) < TOL
        assert_same_gradients(fast, generic, x, mask=mask)


@pytest.fixture
def fast_path_calls(recorded_plans):
    """Grows by one each time a layer call takes rnnkit.backend.jax."""
    return PathsRun(recorded_plans, lambda plan: plan.name == "jax.scan_batched_grads")


@pytest.mark.parametrize("kind", ["lstm", "lstm_nobias", "gru", "gru_reset_before"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_batched_weight_grads_match_generic_scan(kind, go_backwards, x, fast_path_calls):
    # rnnkit.backend.jax, the JAX-CPU fast path of loop="auto" (weight gradients
    # after the loop): outputs, final states and every gradient equal the generic
    # loop's, from initial states, with input and recurrent dropout in training and
    # under masks. Elsewhere (other backends, explicit loops, mixed precision) not taken.

    ours, _ = pair(
        kind,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        dropout=0.3,
        recurrent_dropout=0.2,
        seed=7,
    )
    fast, generic = (
        _FromInitialState(variant(ours, **options), 2 if kind.startswith("lstm") else 1)
        for options in (
            {"use_fused": False},
            {"use_fused": False, "loop": BACKEND_LOOPS[keras.backend.backend()]},
        )
    )
    jax_cpu = planner.xla_cpu()
    assert max_diff(fast(x), generic(x)) < TOL
    assert fast_path_calls == ([True] if jax_cpu else [])
    for a, b in zip(gradients(fast, x, sum_sq), gradients(generic, x, sum_sq)):
        assert np.abs(a - b).max() < 1e-4
    # same seed, one call each: the same dropout masks (and dropout acts)
    assert max_diff(fast(x, training=True), generic(x, training=True)) < TOL
    assert max_diff(fast(x, training=True), fast(x)) > 1e-3
    generic(x, training=True)  # keep the two seed generators in step
    grads = [gradients(layer, x, sum_sq, training=True) for layer in (fast, generic)]
    for a, b in zip(*grads):
        assert np.abs(a - b).max() < 1e-4
    # under every mask (carried states and outputs; zeros at masked steps when the
    # layer returns sequences inside Bidirectional)
    assert_same_under_every_mask(fast, generic, x)


def test_batched_weight_grads_not_for_hoisted_mixed_precision_or_simple_rnn(x, fast_path_calls):

    LSTM(U, projection="hoisted")(x)
    LSTM(U, dtype="mixed_bfloat16")(x)
    SimpleRNN(U)(x)  # one gate block: the plain scan measured as fast or faster
    assert fast_path_calls == []
    LSTM(U)(x)
    assert fast_path_calls == ([True] if planner.xla_cpu() else [])


@pytest.fixture
def closed_form_calls(recorded_plans):
    """Grows by one each time a layer call runs rnnkit.backend.torch."""
    return PathsRun(recorded_plans, lambda plan: plan.name == "torch.lstm_closed_form")


GATES = ["keras2_hard_sigmoid", "hard_sigmoid", "sigmoid"]


def lstm_with_gate(gate, **kwargs):
    """A built rnnkit LSTM with gate activation ``gate`` and random weights."""
    layer = LSTM(U, recurrent_activation=gate, **kwargs)
    layer.build((None, T, D))
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("gate", GATES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_torch_closed_form_lstm_matches_generic(gate, go_backwards, x, closed_form_calls):
    # rnnkit.backend.torch, the torch training path of an LSTM (one autograd
    # Function, closed-form backward): outputs, final states and every gradient equal
    # the generic loop's, from initial states, with input and recurrent dropout in
    # training and under every mask (carried states and outputs; zeros at masked steps
    # inside Bidirectional). Taken on torch only, while gradients are recorded.
    ours = lstm_with_gate(
        gate,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        dropout=0.3,
        recurrent_dropout=0.2,
        seed=7,
    )
    fast, generic = (
        _FromInitialState(variant(ours, **options), 2)
        for options in ({"use_fused": False}, {"use_fused": False, "loop": "unrolled"})
    )
    torch_backend = keras.backend.backend() == "torch"
    with no_grad():  # inference keeps the generic loop
        assert max_diff(fast(x), generic(x)) < TOL
    assert closed_form_calls == []
    assert_same_gradients(fast, generic, x)
    assert closed_form_calls == ([True] if torch_backend else [])
    # same seed, one call each: the same dropout masks
    assert_same_gradients(fast, generic, x, training=True)
    assert_same_under_every_mask(fast, generic, x)


@pytest.mark.parametrize("gate", ["keras2_hard_sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_torch_closed_form_lstm_by_default(
    gate, go_backwards, zero_output, x, closed_form_calls, torch_fused_calls
):
    # With the default settings, an LSTM without a torch kernel (gates other than
    # sigmoid) trains through the closed-form Function, unmasked, right-padded and with
    # its final states read under a mask (it is not a fused kernel: torch's kernels never
    # run). Outputs and every gradient equal the plain loop's.
    ours = lstm_with_gate(gate, return_sequences=True)
    ours.go_backwards = go_backwards
    ours.zero_output_for_mask = zero_output
    generic = variant(ours, use_fused=False, loop="unrolled")
    generic.go_backwards = go_backwards
    generic.zero_output_for_mask = zero_output
    fast, reference = (_FromInitialState(layer, 2) for layer in (ours, generic))
    torch_backend = keras.backend.backend() == "torch"
    with no_grad():  # builds both; inference keeps the generic loop
        assert max_diff(fast(x), reference(x)) < TOL
    for mask in (None, right_padded([T, 0, 2, 5])):
        assert_same_gradients(fast, reference, x, mask=mask)
    assert torch_fused_calls == []
    assert closed_form_calls == ([True, True] if torch_backend else [])
    for layer in (ours, generic):
        layer.return_state = True
    mask = right_padded([T, 0, 2, 5])
    assert_same_gradients(fast, reference, x, mask=mask)
    assert closed_form_calls == ([True] * 3 if torch_backend else [])
    # mixed precision, explicit loops and other activations keep the generic loop
    LSTM(U, recurrent_activation=gate, dtype="mixed_bfloat16")(x)
    LSTM(U, recurrent_activation=gate, loop=BACKEND_LOOPS[keras.backend.backend()])(x)
    LSTM(U, recurrent_activation=gate, activation="relu")(x)
    assert len(closed_form_calls) == (3 if torch_backend else 0)


class _HalfCellLSTMCell(LSTMCell):
    """An LSTM cell with other equations (half the new cell state): redefines ``step``
    only, so the fast paths that compute LSTMCell's equations must not take it."""

    def step(self, projected, states, recurrent_mask=None, matmul=None):
        h, (h, c) = super().step(projected, states, recurrent_mask, matmul)
        c = 0.5 * c
        h = h * 0.5
        return h, [h, c]


@pytest.mark.parametrize("gate", ["sigmoid", "keras2_hard_sigmoid"])
def test_cell_subclass_with_its_own_step_takes_no_fast_path(gate, x):
    # A subclass that redefines step gets none of its parent's fast-path declarations
    # (fused kernel, torch closed-form backward, lean JAX backward): every backend's
    # default path computes the subclass's own equations, as the unrolled loop does.
    cell = _HalfCellLSTMCell(U, recurrent_activation=gate)
    assert cell.fused_kind() is None and cell.closed_form_gates() is None
    assert not cell.accumulates_projection()
    assert LSTMCell(U).accumulates_projection()
    assert LSTMCell(U, recurrent_activation=gate).closed_form_gates() == gate
    layers = []
    for options in ({}, {"loop": "unrolled", "use_fused": False}):
        layer = RNN(
            _HalfCellLSTMCell(U, recurrent_activation=gate), return_sequences=True, **options
        )
        layer.build((None, T, D))
        layers.append(layer)
    layers[0].set_weights(layers[1].get_weights())
    fast, reference = (_FromInitialState(layer, 2) for layer in layers)
    for mask in (None, right_padded([T, 0, 2, 5])):
        with no_grad():
            assert max_diff(fast(x, mask=mask), reference(x, mask=mask)) < TOL
        assert_same_gradients(fast, reference, x, mask=mask)
    plain = RNN(LSTMCell(U, recurrent_activation=gate), return_sequences=True)
    plain.build((None, T, D))
    plain.set_weights(layers[1].get_weights())
    assert max_diff(plain(x), layers[1](x)) > 1e-2  # the subclass's equations differ


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_keras_use_cudnn_is_use_fused(cls, x):
    # Keras code that passes use_cudnn runs unchanged; like Keras, the config does not
    # keep it (a runtime choice)
    layer = cls(U, use_cudnn=False)
    assert layer.use_fused is False
    config = layer.get_config()
    assert "use_fused" not in config and "use_cudnn" not in config
    assert cls.from_config(config).use_fused == "auto"
    assert cls(U, use_cudnn="auto", use_fused="auto").use_fused == "auto"
    assert cls(U, use_cudnn="auto", use_fused=False).use_fused is False  # Keras's default
    with pytest.raises(ValueError, match="use_cudnn=True .* contradicts use_fused=False"):
        cls(U, use_cudnn=True, use_fused=False)
    with pytest.raises(ValueError, match="`use_cudnn` .* must be 'auto', True or False, got 'yes'"):
        cls(U, use_cudnn="yes")


def test_use_fused_true_without_kernel_raises(x):
    layer = GRU(U, recurrent_activation="keras2_hard_sigmoid", use_fused=True)
    with pytest.raises(ValueError, match="no fused kernel applies"):
        layer(x)
    # an LSTM with hard-sigmoid gates: no fused kernel, training or not (on torch its
    # training runs the closed-form loop, rnnkit.backend.torch, not a kernel)
    layer = LSTM(U, recurrent_activation="keras2_hard_sigmoid", use_fused=True)
    with pytest.raises(ValueError, match="no fused kernel applies"):
        layer(x)
    with no_grad(), pytest.raises(ValueError, match="no fused kernel applies"):
        layer(x)


def test_in_functional_model_fit_and_predict():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, size=(32, 9))
    ids[::3, 6:] = 0  # right padding
    labels = (ids[:, 0] > 10).astype("int32")
    inputs = keras.Input((9,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(inputs)
    h = LSTM(8, return_sequences=True)(h)
    h = GRU(8)(h)
    out = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    history = model.fit(ids, labels, epochs=4, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    probs = model.predict(ids, verbose=0)
    assert probs.shape == (32, 2) and np.allclose(probs.sum(-1), 1, atol=1e-5)


# Compiled (XLA on TensorFlow, jax.jit) and mixed-precision training through each
# backend's own loop (on TensorFlow: with the custom-gradient recurrent matmul). Eager JAX
# re-traces the scan at every step and torch.compile takes minutes here: those run eager
# torch / jitted JAX only.
FIT_JIT = {"tensorflow": [False, True], "jax": [True], "torch": [False]}[keras.backend.backend()]


@pytest.mark.parametrize("jit_compile", FIT_JIT)
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fit_compiled_and_mixed_precision(jit_compile, policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 7, 5)).astype("float32")
        y = x[:, :, :2].sum(axis=(1, 2))[:, None].astype("float32")
        inputs = keras.Input((7, 5))
        h = LSTM(8, return_sequences=True, use_fused=False)(inputs)
        h = GRU(8, reset_after=False, go_backwards=True)(h)
        outputs = keras.layers.Dense(1, dtype="float32")(h)
        model = keras.Model(inputs, outputs)
        model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=jit_compile)
        history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
        losses = history.history["loss"]
        assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
        hidden = keras.Model(inputs, model.layers[1].output)(x[:2])
        assert keras.backend.standardize_dtype(hidden.dtype) == (
            "float32" if policy == "float32" else "bfloat16"
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


# -- bad input -------------------------------------------------------------------------


def test_error_wrong_rank():
    layer = LSTM(U, name="my_lstm")
    with pytest.raises(ValueError, match=r"my_lstm.*rank 3.*got shape \(4, 5\)"):
        layer(np.zeros((4, 5), "float32"))


def test_error_feature_size_changed(x):
    layer = GRU(U, name="g")
    layer(x)
    with pytest.raises(ValueError, match=r"'g' was built for 5 input features.*with 7"):
        layer(np.zeros((B, T, 7), "float32"))


def test_integer_inputs_are_cast_as_keras_does():
    # keras.layers' recurrent layers take integer sequences and compute with them as
    # floats: the same outputs as the float inputs; strings stay an error
    ints = np.random.default_rng(0).integers(-3, 4, size=(B, T, D))
    for layer in (SimpleRNN(U, name="s"), LSTM(U), GRU(U)):
        expected = layer(ints.astype("float32"))
        for dtype in ("int32", "int64"):
            got = layer(ints.astype(dtype))
            assert keras.backend.standardize_dtype(got.dtype) == "float32"
            assert max_diff(got, expected) == 0.0
    assert max_diff(layer(np.ones((B, T, D), bool)), layer(np.ones((B, T, D), "float32"))) == 0


def test_error_mask_shape(x):
    layer = LSTM(U, name="m")
    with pytest.raises(ValueError, match=r"'m' expected a mask of shape \(batch, timesteps\)"):
        layer(x, mask=np.ones((B, T + 1), bool))
    with pytest.raises(ValueError, match="expected a mask"):
        layer(x, mask=np.ones((B, T, 1), bool))


def test_error_initial_states(x):
    layer = LSTM(U, name="st")
    with pytest.raises(ValueError, match=r"'st' expected 2 initial state\(s\).*got 1"):
        layer(x, initial_state=[np.zeros((B, U), "float32")])
    with pytest.raises(ValueError, match=r"'st' expected initial state 1 of shape \(4, 3\)"):
        layer(x, initial_state=[np.zeros((B, U), "float32"), np.zeros((B, U + 1), "float32")])


def test_error_constructor_arguments():
    with pytest.raises(ValueError, match="positive integer"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="Unknown activation"):
        SimpleRNN(3, activation="nope")
    with pytest.raises(ValueError, match="rnnkit cell"):
        RNN(keras.layers.LSTMCell(3))


def test_outputs_are_lists_with_return_state(x):
    out = LSTM(U, return_state=True)(x)
    assert len(as_list(out)) == 3
