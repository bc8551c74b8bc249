"""Gated recurrent unit layer, the counterpart of ``keras.layers.GRU``."""

from __future__ import annotations

from typing import Any

import keras

from rnnkit.cells.gru_cell import GRUCell
from rnnkit.layers.rnn import CellLayer, KerasCudnnNames


@keras.saving.register_keras_serializable(package="rnnkit")
class GRU(KerasCudnnNames, CellLayer):
    """Gated recurrent unit layer, the counterpart of ``keras.layers.GRU``.

    Runs :class:`rnnkit.cells.GRUCell` with :class:`rnnkit.layers.RNN`. Same
    constructor and call arguments as Keras's layer and the same weight layout, so
    ``layer.set_weights(keras_layer.get_weights())`` gives the same function.

    Args:
        units: Positive integer, dimensionality of the state.
        activation: Candidate activation (default tanh).
        recurrent_activation: Gate activation (default sigmoid).
        reset_after: Reset gate after the recurrent matmul (True, Keras's and
            cuDNN's default) or before it (False, the textbook form).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed: as in Keras (see
            :class:`rnnkit.cells.RecurrentCell`).
        return_sequences, return_state, go_backwards, stateful, unroll,
        zero_output_for_mask, use_fused, loop, projection, batch_split: as in
            :class:`rnnkit.layers.RNN` (runtime choices, not saved in the config).
            Keras's ``use_cudnn`` is also accepted, as another name for ``use_fused``
            (and readable as the ``use_cudnn`` attribute), and Keras's legacy
            ``implementation`` argument is accepted and changes nothing.

    Every call runs one path, chosen by :func:`rnnkit.layers.planner.plan_call` (see it
    with ``layer.execution_plan(x)`` or :func:`rnnkit.explain`); every path gives the same
    outputs and gradients. A fused kernel needs ``use_fused`` not False, ``unroll=False``,
    the ``"auto"`` loop, no recurrent dropout while training, and ``activation="tanh"``,
    ``recurrent_activation="sigmoid"`` and ``reset_after=True``:

    - ``torch.fused``: on torch, unmasked inputs; ``torch.fused_right_padded`` for a
      right-padded mask;
    - ``cudnn``: on TensorFlow or JAX with a GPU, unmasked inputs.

    Otherwise the loop runs: ``jax.scan_batched_grads`` on JAX's CPU backend (float32,
    the ``"auto"`` loop), else ``loop.*`` (see :class:`rnnkit.layers.RNN`).

    Call arguments:
        sequences: ``(batch, timesteps, features)`` float tensor.
        initial_state: optional list of initial states.
        mask: optional boolean ``(batch, timesteps)``.
        training: whether dropout is active.

    Returns:
        ``(batch, units)``, or ``(batch, timesteps, units)`` with ``return_sequences``;
        with ``return_state``, ``[output, h]``.

    Example:

    >>> layer = GRU(32, reset_after=False)
    >>> y = layer(keras.ops.ones((4, 10, 8)))  # (4, 32)
    """

    cell_class = GRUCell
    cell_name = "gru_cell"

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_fused: bool | str = "auto",
        loop: str = "auto",
        projection: str = "auto",
        batch_split: int | str = "auto",
        **kwargs: Any,
    ) -> None:
        implementation = kwargs.pop("implementation", 2)
        cell_kwargs = dict(
            units=units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            reset_after=reset_after,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
        )
        rnn_kwargs = dict(
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            use_fused=use_fused,
            loop=loop,
            projection=projection,
            batch_split=batch_split,
            kwargs=dict(kwargs, activity_regularizer=activity_regularizer),
        )
        super().__init__(cell_kwargs, rnn_kwargs)
        self.implementation = implementation
