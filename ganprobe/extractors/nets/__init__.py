"""Network definitions re-implemented by ganprobe (loadable from published checkpoints)."""
