"""Utilities that know nothing of images, metrics or reports: safe files and text, bounds on inputs, devices, row
sharding, lazy exports.
"""
