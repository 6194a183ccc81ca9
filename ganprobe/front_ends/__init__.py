"""The front ends: the ``ganprobe`` command line and the pytest plugin, thin over :mod:`ganprobe.run`."""
