"""The shared HTTP app: every channel-facing API mounts here, behind one auth seam."""
