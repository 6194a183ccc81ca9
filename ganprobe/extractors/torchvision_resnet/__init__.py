"""Backbone family: torchvision's ImageNet ResNets 18, 34 and 50.

``declaration.py`` (torch-free: taps, input pipelines), ``weights.py`` (the loader); the network is torchvision's.
"""
