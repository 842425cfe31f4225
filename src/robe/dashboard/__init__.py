"""The health dashboard: the fleet on one live web page (``robe dashboard``, ``robe run --dashboard``).

| module   | owns                                                                          |
|----------|-------------------------------------------------------------------------------|
| security | the address, the token, Host names, sessions and CSRF, the checks on actions  |
| board    | the queues' parses while unchanged; the board's lanes, columns and filters    |
| pages    | what the fleet, task, failures and metrics pages show, as plain data          |
| actions  | retry, cancel, block, unblock, priority, add: through the one locked writer   |
| live     | the file watcher and the hub that tells open pages what changed (SSE)         |
| app      | the Starlette application: routes, templates, the gate every request passes   |
| server   | uvicorn, in the foreground or on a thread of ``robe run``                     |

The pages are server-rendered (Jinja2), with one small script of robe's own and SVG charts
drawn on the server (``robe.charts``): no front-end build, nothing fetched from elsewhere.
The web stack is imported when a dashboard is started, never by robe's other commands.
"""
