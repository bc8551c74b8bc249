"""rnnkit.serving."""
