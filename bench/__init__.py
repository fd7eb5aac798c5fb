"""Benchmarks of the bridge (and of Kannel beside it): commands that print numbers, never tests. See README.md."""
