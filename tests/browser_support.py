"""A real browser for tests: Debian's chromium driven by Playwright (no browser download).

`chromium_path()` finds the executable (PRORATA_CHROMIUM, else `chromium` on PATH); where there
is none the browser tests are skipped, saying how to get one — `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil

import pytest

SKIP_REASON = (
    "no chromium here: the browser tests need Debian's chromium "
    "(`apt-get install chromium`, as .ci/run does) or PRORATA_CHROMIUM=/path/to/chrome"
)


def chromium_path() -> str:
    found = os.environ.get("PRORATA_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.skip(SKIP_REASON)
    return found
