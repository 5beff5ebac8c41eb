"""Benchmarks (not timed tests): each module exposes `run(...) -> dict[str, float]` and a `__main__`."""
