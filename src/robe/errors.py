"""The base of robe's user-facing errors above the queue layer.

A RobeError's message is one plain sentence that says what is wrong and what to do; the CLI
prints it and exits 1. (``robe.queue`` has its own QueueError: it imports nothing of robe's.)
"""


class RobeError(Exception):
    """An error whose message is meant for the person at the terminal."""
