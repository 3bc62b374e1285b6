"""Load benchmarks: run with scripts/bench (see README, Benchmarks)."""
