"""Benchmarks run on demand (``make bench``, ``make bench-quick``, ``python -m bench.<name>``).

Nothing here runs under ``make test``.
"""
