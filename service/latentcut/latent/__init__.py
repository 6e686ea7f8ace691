"""Latent vectors without a model: the sidecar format, sampling, interpolation and journeys (numpy only)."""
