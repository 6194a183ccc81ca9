"""An example of a metric of one's own: the energy distance between real and fake features.

Four parts, the template for any new metric: the math (:mod:`energy_metric.functional`), the torchmetrics class
(:mod:`energy_metric.metric`), the torch-free declaration (:mod:`energy_metric.declaration`) and its test
(``tests/project/test_example_metric.py`` in the ganprobe repository). ``register_metric(DECLARATION)`` or an
entry point of the ``ganprobe.metrics`` group makes it one of ``evaluate``'s, the CLI's, the gates' and the
reports' metrics.
"""
