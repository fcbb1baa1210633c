"""Benchmarks: a plain-Mesa reference implementation and the speed benchmark (``bench.py``)."""
