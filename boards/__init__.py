"""armboot.boards."""
