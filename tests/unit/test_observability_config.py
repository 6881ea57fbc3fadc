"""Telemetry is chosen by the standard OTEL_* variables, off by default, refuses what this build
cannot honour; exported spans are scrubbed; the compose file is wired as documented."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

from prorata import config
from prorata.observability import export
from prorata.observability.logs import Redactor
from tests.support import REPO_ROOT

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


def test_nothing_is_exported_without_an_endpoint() -> None:
    assert export.trace_exporter({}) is None
    assert export.metric_readers({}) == []


def test_an_endpoint_turns_on_otlp_export_of_traces_and_metrics() -> None:
    assert isinstance(export.trace_exporter(ENDPOINT), OTLPSpanExporter)
    assert len(export.metric_readers(ENDPOINT)) == 1
    traces_only = {**ENDPOINT, "OTEL_METRICS_EXPORTER": "none"}
    assert isinstance(export.trace_exporter(traces_only), OTLPSpanExporter)
    assert export.metric_readers(traces_only) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
    ],
)
def test_settings_this_build_cannot_honour_are_refused(name: str, value: str) -> None:
    with pytest.raises(export.ObservabilityConfigError):
        export.trace_exporter({**ENDPOINT, name: value})


def test_the_service_name_defaults_per_process_and_the_standard_variable_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    default = export.resource("prorata-web", {}).attributes
    assert default["service.name"] == "prorata-web"
    assert default["deployment.environment.name"] == "test"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "api-eu")
    named = export.resource("prorata-web", {"OTEL_SERVICE_NAME": "api-eu"})
    assert named.attributes["service.name"] == "api-eu"


def test_the_otlp_header_values_are_secrets() -> None:
    environ = {"OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=hc-key-123, other = v2"}
    assert export.header_secrets(environ) == ["hc-key-123", "v2"]


def _recorded(exporter: InMemorySpanExporter, secrets: list[str]) -> TracerProvider:
    provider = TracerProvider(sampler=export.SkipUnownedCalls(ALWAYS_ON))
    redacting = export.RedactingSpanExporter(exporter, Redactor(secrets))
    provider.add_span_processor(SimpleSpanProcessor(redacting))
    return provider


def test_exported_spans_lose_secrets_addresses_and_webhook_paths() -> None:
    exporter = InMemorySpanExporter()
    tracer = _recorded(exporter, ["s3cr3t-db-password"]).get_tracer("test")
    with tracer.start_as_current_span("job", kind=SpanKind.CONSUMER):
        client = tracer.start_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes={
                "http.url": "https://hooks.example.com/services/T00/B00/XyZsecret?sig=1",
                "webhook.secret": "whsec_abc",
            },
        )
        client.end()
        with (
            pytest.raises(ValueError, match="duplicate"),
            tracer.start_as_current_span("insert"),
        ):
            raise ValueError("duplicate key: Key (email)=(lp@fund.example) via s3cr3t-db-password")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["POST"].attributes == {
        "http.url": "https://hooks.example.com",
        "webhook.secret": "[REDACTED]",
    }
    failed = spans["insert"]
    expected = "duplicate key: Key (email)=([EMAIL]) via [REDACTED]"
    assert failed.status.description == f"ValueError: {expected}"
    (event,) = failed.events
    assert event.attributes is not None
    assert event.attributes["exception.message"] == expected
    assert "s3cr3t" not in str(event.attributes["exception.stacktrace"])


def test_calls_out_of_no_request_or_job_are_not_traced() -> None:
    exporter = InMemorySpanExporter()
    tracer = _recorded(exporter, []).get_tracer("test")
    sql = {"db.system": "postgresql", "db.statement": "SELECT 1"}

    def call(name: str) -> None:
        # As psycopg's instrumentation does: the attributes come after the span started.
        with tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as client:
            client.set_attributes(sql)

    call("poll")
    with tracer.start_as_current_span("job", kind=SpanKind.CONSUMER):
        call("query")
    tracer.start_span("startup", kind=SpanKind.INTERNAL).end()
    assert sorted(span.name for span in exporter.get_finished_spans()) == [
        "job",
        "query",
        "startup",
    ]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO_ROOT / "deploy" / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_wires_web_and_worker_to_the_collector_and_jaeger() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) >= {"postgres", "s3", "migrate", "web", "worker", "otel-collector"}
    assert "jaeger" in services
    known = {f"PRORATA_{name.upper()}" for name in config.Settings.model_fields}
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["OTEL_SERVICE_NAME"] == f"prorata-{name}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert env["PRORATA_BLOB_URL"].startswith("s3://")
        assert {k for k in env if k.startswith("PRORATA_")} <= known
        # Secrets come from the environment, never from this file.
        assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert ports == ["8000:8000", "16686:16686"]  # API and Jaeger's UI; metrics stay private
    # The worker yields the CPU to web across containers (cgroups), where nice cannot reach.
    assert services["worker"]["cpu_shares"] < services["web"].get("cpu_shares", 1024)

    collector = yaml.safe_load(compose["configs"]["otel-collector"]["content"])
    pipelines = collector["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger"]
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"


@pytest.mark.parametrize(
    ("environment", "interval"),
    [({}, 0.005), (ENDPOINT, 0.001), ({"OTEL_TRACES_EXPORTER": "console"}, 0.001)],
)
def test_a_process_that_exports_spans_switches_threads_every_millisecond(
    environment: dict[str, str], interval: float
) -> None:
    """The batch processor's thread holds the GIL while it hands a batch to the span process;
    the event loop waits for it at most one switch interval a time: 1 ms where spans are
    exported, CPython's 5 ms where nothing is (a fresh process each: `configure` acts once per
    process). The service commands configure telemetry through `cli._configure_telemetry`."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys; from prorata import cli; from prorata.config import Settings; "
        "from prorata.observability import setup; "
        "assert cli._configure_telemetry(Settings(env='test'), 'web', None); "
        "print(sys.getswitchinterval()); setup.shutdown()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **environment},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert float(out.split()[-1]) == pytest.approx(interval)
