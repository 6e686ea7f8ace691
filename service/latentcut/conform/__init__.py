"""Applying an editor's timeline to the sidecars: finding each clip's z-sequence, gathering and blending latents, provenance."""
