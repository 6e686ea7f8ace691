"""latentcut: edit journeys through a generative model's latent space in Kdenlive and render them back at online quality.

Layers, in dependency order: ``errors``, ``atomic``, ``timebase`` → ``latent`` (numpy only) →
``models`` (torch) → ``render`` (ffmpeg) → ``cli``.
"""

__version__ = "0.1.0"
