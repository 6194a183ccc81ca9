"""The run: one evaluation from two image sets to report files (pipeline, evaluator, runtime, output paths,
provenance).
"""
