"""The shared loop (``rnnkit.ops.recurrence.recurrence``) stepping through a tuple of
inputs: the same as one concatenated input, on every loop of this backend, with masks,
``go_backwards`` and time-major inputs."""

import keras
import numpy as np
import pytest

from rnnkit.ops.recurrence import BACKEND_LOOPS, recurrence

BACKEND = keras.backend.backend()
LOOPS = sorted({BACKEND_LOOPS[BACKEND], "unrolled"})
UNITS = 3


def concatenated_step(x_t, states):
    h = x_t[:, :UNITS] * states[0] + x_t[:, UNITS:]
    return h, [h]


def tuple_step(x_t, states):
    a_t, b_t = x_t
    h = a_t * states[0] + b_t
    return h, [h]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("mask_name", ["none", "left", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("time_major", [False, True])
def test_a_tuple_of_inputs_equals_one_concatenated_input(loop, mask_name, go_backwards, time_major):
    rng = np.random.default_rng(0)
    batch, steps = 4, 6
    a = rng.uniform(0.1, 1.0, size=(batch, steps, UNITS)).astype("float32")
    b = rng.normal(size=(batch, steps, UNITS)).astype("float32")
    h0 = rng.normal(size=(batch, UNITS)).astype("float32")
    masks = {
        "none": None,
        "left": np.arange(steps)[None, :] >= np.array([0, 2, 5, 1])[:, None],
        "holes": rng.random((batch, steps)) < 0.6,
    }
    mask = masks[mask_name]
    kwargs = dict(mask=mask, go_backwards=go_backwards, loop=loop, time_major=time_major)

    def arrange(x):
        return np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x

    want_last, want_outs, want_states = recurrence(
        concatenated_step, arrange(np.concatenate([a, b], -1)), [h0], UNITS, **kwargs
    )
    got_last, got_outs, got_states = recurrence(
        tuple_step, (arrange(a), arrange(b)), [h0], UNITS, **kwargs
    )
    to_np = keras.ops.convert_to_numpy
    # outputs come back batch-major in both cases
    assert to_np(got_outs).shape == (batch, steps, UNITS)
    np.testing.assert_allclose(to_np(got_outs), to_np(want_outs), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_np(got_last), to_np(want_last), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_np(got_states[0]), to_np(want_states[0]), rtol=1e-6, atol=1e-6)
    # and both are the equations, stepped in processing order
    h, outs = h0.astype(np.float64), []
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    prev = np.zeros_like(h)
    for t in order:
        new = a[:, t] * h + b[:, t]
        keep = np.ones((batch, 1), bool) if mask is None else mask[:, t : t + 1]
        h = np.where(keep, new, h)
        prev = np.where(keep, new, prev)
        outs.append(prev)
    np.testing.assert_allclose(to_np(got_outs), np.stack(outs, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(got_states[0]), h, rtol=1e-5, atol=1e-5)
