"""armboot.hyp.personalities."""
