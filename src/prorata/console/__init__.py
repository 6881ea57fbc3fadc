"""The console: server-rendered pages for people (Jinja2 templates, one stylesheet, no build).

Pages call the domains' services exactly as the API routes do; `routing.PageRoute` gives each
the guarantees `ApiRoute` gives the API (policy table, session, CSRF, rate limit, transaction).
"""
