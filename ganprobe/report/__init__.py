"""User-facing results: flat metric records (the JSON schema's core) and terminal tables."""

from ganprobe.report.records import MetricRecord, collect_records

__all__ = ["MetricRecord", "collect_records"]
