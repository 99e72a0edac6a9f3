"""Connectors for the systems of the simulated legacy estate."""
