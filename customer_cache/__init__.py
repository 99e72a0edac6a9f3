"""Customer 360: stream processors that keep a near-real-time view of every customer in Redis."""
