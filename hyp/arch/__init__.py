"""armboot.hyp.arch."""
