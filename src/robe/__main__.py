"""``python -m robe``: the same as the ``robe`` command."""

from .cli import main

main()
