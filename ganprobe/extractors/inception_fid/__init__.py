"""Backbone family: the FID Inception-v3 of published FID/KID/IS numbers, with its three reference input pipelines.

``declaration.py`` (torch-free: taps, input pipelines), ``weights.py`` (the loader), ``network.py`` (the model).
"""
