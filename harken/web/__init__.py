"""The web workspace (``harken web``): the shared inbox, items and their actions, and a JSON
API, served by FastAPI over the same queue actions, views and filters as the CLI and the Slack
app. Server-rendered (Jinja2, autoescaped); one small script for keyboard shortcuts.

    app.py        create_app: the pieces below put together
    security.py   headers (CSP without inline scripts), CSRF, the sign-in rate limit
    session.py    who is signed in (cookie) or calling (bearer token); errors → HTTP statuses
    query.py      a request's query string → the one ItemFilter (harken.queue.filters)
    render.py     templates, dates in the reader's zone, safe links
    pages.py      sign-in, inbox, item, actions, bulk actions
    api.py        /api/v1
"""
