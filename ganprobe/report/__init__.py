"""The user-facing edges of an evaluation: terminal tables, the JSON report, the HTML page, JUnit, quality gates.

Every key, label and direction shown here comes from the metrics' declared outputs
(:class:`ganprobe.metrics.outputs.Output`); records are :class:`ganprobe.metrics.outputs.MetricRecord`.
"""

from ganprobe.metrics.outputs import MetricRecord

__all__ = ["MetricRecord"]
