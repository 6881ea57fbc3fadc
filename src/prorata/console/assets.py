"""Third-party assets (htmx, Chart.js, Swagger UI, ReDoc), served by Prorata itself.

Each is pinned by version and SHA-256 in `assets.json` and vendored under `static/vendor/
<package>/<version>/` by `tools/fetch_assets.py`, so no page needs the internet and a browser
may cache a versioned URL for good.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

MANIFEST = Path(__file__).resolve().parent / "assets.json"
VENDOR_PREFIX = "vendor/"


@functools.cache
def _served() -> dict[tuple[str, str], str]:
    """(package, file name) → version, of every asset the app serves."""
    assets = json.loads(MANIFEST.read_text())["assets"]
    return {
        (asset["package"], Path(asset["file"]).name): asset["version"]
        for asset in assets
        if asset["dest"] == "served"
    }


def url(package: str, name: str) -> str:
    """The URL of a pinned asset: `/static/vendor/htmx.org/2.0.11/htmx.min.js`."""
    try:
        version = _served()[(package, name)]
    except KeyError:
        raise LookupError(f"{package}/{name} is not in {MANIFEST.name}") from None
    return f"/static/{VENDOR_PREFIX}{package}/{version}/{name}"


class Static(StaticFiles):
    """The console's static files; a vendored asset's URL names its version, so it is cached
    for a year and never revalidated (a new version is a new URL)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path.startswith(VENDOR_PREFIX) and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
