"""A service whose telemetry cannot work exits non-zero (real web and worker processes)."""

from __future__ import annotations

import socket

from tests.support import process_env, prorata_process

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


def test_a_service_exits_non_zero_when_telemetry_cannot_work() -> None:
    wrong_protocol = process_env(**ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    web = prorata_process("web", env=wrong_protocol)
    _, stderr = web.communicate(timeout=60)
    assert web.returncode == 2
    assert b"telemetry" in stderr
    assert b"http/protobuf" in stderr

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = prorata_process("worker", env=process_env(PRORATA_WORKER_METRICS_PORT=str(port)))
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 2
    assert b"telemetry" in stderr
