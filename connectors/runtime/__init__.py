"""The connector runtime: runs configured sources, maps their records, publishes, commits offsets,
tracks health and exposes status and metrics."""
