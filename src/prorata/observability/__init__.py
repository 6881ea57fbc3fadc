"""Telemetry and logs: spans, metrics, exporters, structured logs with redaction."""
