"""armboot.cli."""
