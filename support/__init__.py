"""Helpers the test suites and the benchmarks share: processes on loopback, the stack, known attacks."""
