"""Benchmarks: `make bench` (`python -m bench`) runs every module's `main()`.

Benchmarks measure; they never assert timings, so they are kept out of the test suite.
"""
