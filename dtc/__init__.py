"""armboot.dtc."""
