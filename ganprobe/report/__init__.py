"""The user-facing edges of an evaluation: terminal tables, the JSON report, the HTML page, JUnit, quality gates.

Every key, label and direction shown here comes from the metrics' declared outputs
(:class:`ganprobe.metrics.records.Output`); records are :class:`ganprobe.metrics.records.MetricRecord`.
"""

from ganprobe.metrics.records import MetricRecord

__all__ = ["MetricRecord"]
