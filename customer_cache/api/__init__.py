"""Channel-facing APIs of the customer 360."""
