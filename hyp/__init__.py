"""armboot.hyp."""
