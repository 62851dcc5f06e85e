"""armboot.hyp.platform."""
