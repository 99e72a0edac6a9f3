"""Benchmarks: each measures Overlay against a raw baseline in the same run and prints, as its
last line, one JSON object with its figures."""
