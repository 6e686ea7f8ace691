"""From latents to pictures on disk: batched generation, snapshot grids, labels, and ffmpeg encoding."""
