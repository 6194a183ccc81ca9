"""Backbone family: lenet-mnist, the MNIST digit classifier shipped inside the package.

``declaration.py`` (torch-free: taps, input pipelines), ``weights.py`` (the loader), ``network.py`` (the model).
"""
