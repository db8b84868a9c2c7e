"""``fileintel web``: the operator's window, read-only.

- ``app``: the ASGI application (routes, errors as one-line JSON, security headers);
- ``api``: the JSON routes, on the store functions behind the CLI's ``--json``;
- ``pages``: the server-rendered pages (templates and static files ship in the package);
- ``fanout``: one reader of the outbox per process, its events handed to every client;
- ``sse``: ``/api/events``, Server-Sent Events resumable by ``Last-Event-ID``;
- ``security``: the token rule and the headers every response carries.
"""
