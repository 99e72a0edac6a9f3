"""Declarative mapping from raw source records to canonical entities (YAML-configured)."""
