"""Backend-agnostic operations (``keras.ops``) behind rnnkit's layers."""

from rnnkit.ops.activations import get_activation, keras2_hard_sigmoid
from rnnkit.ops.crf import (
    crf_decode,
    crf_log_likelihood,
    crf_log_partition,
    crf_log_partition_parallel,
    crf_marginals,
    crf_sequence_score,
    detect_scheme,
    scheme_violations,
    sequence_follows_scheme,
    transition_constraints,
)
from rnnkit.ops.recurrence import recurrence

__all__ = [
    "crf_decode",
    "crf_log_likelihood",
    "crf_log_partition",
    "crf_log_partition_parallel",
    "crf_marginals",
    "crf_sequence_score",
    "detect_scheme",
    "get_activation",
    "keras2_hard_sigmoid",
    "recurrence",
    "scheme_violations",
    "sequence_follows_scheme",
    "transition_constraints",
]
