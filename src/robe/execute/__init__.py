"""The body: the watchdog executor and the agent adapters."""
