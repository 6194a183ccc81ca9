"""Reference GAN trainers that track ganprobe metrics while they train.

One small shared training loop (:mod:`gan.loop`) drives every trainer; the trainers only choose networks
(:mod:`gan.models`), losses (:mod:`gan.losses`) and data (:mod:`gan.data`). Every ``--eval-every`` steps the
:class:`gan.monitor.MetricMonitor` scores a fixed batch of generated images against held real images with ganprobe's
metrics (1-NN leave-one-out accuracy, per-layer separability, Fréchet distance), the way a user drops ganprobe into
their own loop: metrics built once, then ``update()`` / ``compute()`` / ``reset()`` at each evaluation.

Import it from the ``examples/`` folder (the scripts there put it on ``sys.path``).
"""
