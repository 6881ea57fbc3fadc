"""The API's documentation pages, Swagger UI and ReDoc, with their assets served by Prorata:
they render on a machine with no internet. Public, like the OpenAPI document they show."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from markupsafe import escape

from prorata.console import assets

TITLE = "Prorata API"
# The browser itself refuses anything from another site (ReDoc's bundle links a logo on a CDN):
# the pages need the internet for nothing, and cannot be made to. Swagger UI starts from an
# inline script, ReDoc searches in a blob: worker.
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _redoc_html(openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(TITLE)}</title>
<link rel="icon" href="{assets.url("swagger-ui-dist", "favicon-32x32.png")}">
<style>body {{ margin: 0; }} a[href*="redocly.com"] {{ display: none; }}</style>
</head>
<body>
<redoc spec-url="{escape(openapi_url)}"></redoc>
<script src="{assets.url("redoc", "redoc.standalone.js")}"></script>
</body>
</html>
"""


def router(openapi_url: str, prefix: str) -> APIRouter:
    docs = APIRouter(include_in_schema=False)

    @docs.get(f"{prefix}/docs")
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=TITLE,
            swagger_js_url=assets.url("swagger-ui-dist", "swagger-ui-bundle.js"),
            swagger_css_url=assets.url("swagger-ui-dist", "swagger-ui.css"),
            swagger_favicon_url=assets.url("swagger-ui-dist", "favicon-32x32.png"),
        )
        page.headers["Content-Security-Policy"] = POLICY
        return page

    @docs.get(f"{prefix}/redoc")
    async def redoc() -> HTMLResponse:
        return HTMLResponse(_redoc_html(openapi_url), headers={"Content-Security-Policy": POLICY})

    return docs
