"""Fetch the console's third-party assets from the npm registry, checked, into the tree.

Every asset is pinned in `src/prorata/console/assets.json` by package, version, file and the
file's SHA-256. This script downloads each package's tarball from the registry, verifies the
tarball against the registry's own `integrity` (SHA-512) and the file against the manifest, and
writes it where Prorata serves it (`dest: served`, under the console's static/vendor) or where
the tests load it (`dest: test`, under tests/assets/vendor). Nothing is fetched at run time.

    python tools/fetch_assets.py           # fetch and verify every asset
    python tools/fetch_assets.py --check   # verify the files in the tree, no network
    python tools/fetch_assets.py --pin     # after changing a version: record new SHA-256s
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "src" / "prorata" / "console" / "assets.json"
DESTINATIONS = {
    "served": ROOT / "src" / "prorata" / "console" / "static" / "vendor",
    "test": ROOT / "tests" / "assets" / "vendor",
}
REGISTRY = "https://registry.npmjs.org"


class AssetError(RuntimeError):
    pass


def load_manifest(path: Path = MANIFEST) -> list[dict[str, Any]]:
    assets: list[dict[str, Any]] = json.loads(path.read_text())["assets"]
    return assets


def target(asset: dict[str, Any]) -> Path:
    """Where an asset lives in the tree: <dest>/<package>/<version>/<file name>."""
    name = Path(asset["file"]).name
    folder: Path = DESTINATIONS[asset["dest"]]
    return folder / str(asset["package"]) / str(asset["version"]) / name


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - the npm registry
        body: bytes = response.read()
        return body


def _tarball(package: str, version: str) -> bytes:
    meta = json.loads(_get(f"{REGISTRY}/{package}/{version}"))
    dist = meta["dist"]
    data = _get(dist["tarball"])
    algorithm, _, expected = dist["integrity"].partition("-")
    if algorithm != "sha512":
        raise AssetError(f"{package}@{version}: unexpected integrity {algorithm}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise AssetError(f"{package}@{version}: the tarball does not match the registry")
    return data


def _member(tarball: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(f"package/{name}")
        if member is None:
            raise AssetError(f"{name} is not in the package")
        return member.read()


def fetch(assets: list[dict[str, Any]], *, pin: bool) -> list[dict[str, Any]]:
    tarballs: dict[tuple[str, str], bytes] = {}
    for asset in assets:
        key = (asset["package"], asset["version"])
        if key not in tarballs:
            tarballs[key] = _tarball(*key)
        data = _member(tarballs[key], asset["file"])
        digest = sha256(data)
        if pin:
            asset["sha256"] = digest
        elif digest != asset["sha256"]:
            raise AssetError(f"{asset['package']}/{asset['file']}: SHA-256 {digest} is not pinned")
        path = target(asset)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path.relative_to(ROOT)}  {digest}")  # noqa: T201 - a command's output
    return assets


def check(assets: list[dict[str, Any]]) -> list[str]:
    """What differs between the tree and the manifest (empty: all as pinned)."""
    problems = []
    for asset in assets:
        path = target(asset)
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} is missing")
        elif sha256(path.read_bytes()) != asset["sha256"]:
            problems.append(f"{path.relative_to(ROOT)} differs from its pinned SHA-256")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify the tree, no network")
    mode.add_argument("--pin", action="store_true", help="record the fetched files' SHA-256s")
    args = parser.parse_args(argv)
    assets = load_manifest()
    if args.check:
        problems = check(assets)
        for problem in problems:
            print(problem, file=sys.stderr)  # noqa: T201
        return 1 if problems else 0
    try:
        fetched = fetch(assets, pin=args.pin)
    except (AssetError, OSError) as exc:
        print(f"fetch_assets: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if args.pin:
        MANIFEST.write_text(json.dumps({"assets": fetched}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
