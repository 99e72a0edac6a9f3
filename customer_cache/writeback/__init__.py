"""Channel writes through to the legacy system that owns the data, visible at once (read-your-writes)."""
