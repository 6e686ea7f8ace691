"""Visual-reactive control: a video or a camera steers the latents, and the performance becomes a z-sequence to cut.

Modules, in data-flow order: ``source`` (frames through ffmpeg) → ``image_stats`` and ``tracker``
(OpenCV) and ``features`` (a frozen torch network) → ``steering`` (numpy: fake latents on the prior's
shell, smoothing) → ``performance`` (the whole run, its files and its timing).
"""
