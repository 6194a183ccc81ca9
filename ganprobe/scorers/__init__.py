"""The math and reports of every ganprobe metric, without torchmetrics: one scorer class per metric.

A scorer (:class:`~ganprobe.scorers.base.FeatureScorer`) holds what a metric computes and reports (states per layer
and class, ``compute()``, ``records()``, findings, sample-size checks) and calls the state methods of the class it is
mixed with. Each public metric of :mod:`ganprobe.metrics` is its scorer on torchmetrics' ``Metric``
(``class FID(FIDScorer, SingleLayerMetric)``): DDP sync, the compute cache, ``MetricCollection`` and Lightning. The
:class:`~ganprobe.run.evaluator.Evaluator` runs the same scorer on :class:`~ganprobe.scorers.plain.PlainStates`
(:func:`~ganprobe.scorers.plain.standalone`) wherever no state needs syncing, so an evaluation never imports
torchmetrics (whose package import loads torchvision, ``torch._dynamo``, matplotlib and ``scipy.signal``).
"""
