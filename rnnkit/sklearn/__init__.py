"""rnnkit.sklearn."""
