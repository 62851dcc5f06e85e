"""armboot.hyp.core."""
