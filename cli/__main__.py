"""``python -m armboot.cli`` runs the armboot command line."""

from .app import main

main()
