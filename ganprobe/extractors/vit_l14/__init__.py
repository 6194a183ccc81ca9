"""Backbone family: the ViT-L/14 feature spaces: DINOv2 (FD_DINOv2) and OpenAI CLIP@336 (CMMD); need timm.

``declaration.py`` (torch-free: taps, input pipelines), ``weights.py`` (the loader), ``network.py`` (the model).
"""
