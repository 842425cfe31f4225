"""The dispatcher (openclaw-work): routing, next-task selection and claims.

``routed_tasks`` / ``ready_tasks`` answer "what goes to this wizard" and "what would it take
next"; ``dispatch`` is one whole run. Submodules are imported on first use, so importing
``robe.dispatch`` for the routing helpers costs nothing extra.
"""

from .routing import Routing, route_task, routed_tasks, ready_tasks

__all__ = ["Routing", "route_task", "routed_tasks", "ready_tasks", "dispatch"]


def dispatch(*args, **kwargs):
    from .run import dispatch as _dispatch

    return _dispatch(*args, **kwargs)


dispatch.__doc__ = "One dispatch run; see robe.dispatch.run.dispatch."
