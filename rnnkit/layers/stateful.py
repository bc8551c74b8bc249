"""The state variables of a stateful recurrent layer, shared by :class:`~rnnkit.layers.rnn.RNN`
and :class:`~rnnkit.layers.parallel_rnn.ParallelRNN`.

A stateful layer (``stateful=True``) keeps the final states of one batch in non-trainable
variables, one ``(batch_size, size)`` variable per state, and starts the next batch from
them unless the call gives an ``initial_state``, as Keras's recurrent layers do.
"""

from __future__ import annotations

from typing import Any

from keras import ops


class StatefulStates:
    """Mixin of a Keras layer with a ``stateful`` attribute: builds, reads, writes and
    zeroes the state variables (``self.states``, ``None`` unless stateful)."""

    states: list | None

    def build_states(self, batch_size: int | None, sizes: list[int]) -> None:
        """Adds one zero-initialised variable ``state_<i>`` of shape
        ``(batch_size, sizes[i])`` per state.

        Raises:
            ValueError: ``batch_size`` is None (the Input has no fixed batch size).
        """
        if batch_size is None:
            raise ValueError(
                f"Layer '{self.name}' is stateful and needs a fixed batch size: give "
                "the Input a batch_shape / batch_size."
            )
        self.states = [
            self.add_weight(
                shape=(int(batch_size), int(n)),
                initializer="zeros",
                trainable=False,
                name=f"state_{i}",
            )
            for i, n in enumerate(sizes)
        ]

    def stored_states(self) -> list:
        """The kept states as tensors: copies, not the variables' storage, so the
        assignment of the new states cannot overwrite a tensor that the backward pass
        still needs (torch)."""
        return [ops.copy(ops.convert_to_tensor(s)) for s in self.states]

    def store_states(self, values: list[Any]) -> None:
        """Keeps ``values`` (one per state, cast to the variables' dtype)."""
        for variable, value in zip(self.states, values):
            variable.assign(ops.cast(value, variable.dtype))

    def reset_states(self) -> None:
        """Zeroes the states of a stateful layer (nothing for a layer that isn't)."""
        if self.states is not None:
            for state in self.states:
                state.assign(ops.zeros(state.shape, dtype=state.dtype))

    reset_state = reset_states
