"""latentcut: edit journeys through a generative model's latent space in Kdenlive and render them back at online quality.

Subpackages and top-level modules, in dependency order (each uses only what stands above it):

    errors, atomic, files, timebase, untrusted_json
                    the error tree, atomic outputs, regular-file reads, frame rates, JSON from outside read within limits
    programs        external programs (melt, ffmpeg, ...) in their own process group, stopped when they stall
    latent          z-sequences, sidecars and their look, sampling, interpolation, journeys, curation, retiming (numpy)
    media           what a media file says about itself (ffprobe), below the timeline
    timeline        MLT/Kdenlive and OTIO timelines: which source frame shows at each timeline frame
    conform         a timeline applied to its clips' sidecars: conformed latents, provenance, what each output frame is
    models          the Generator protocol, builtin:cppn and builtin:digits, StyleGAN, users' models, looks made real (torch)
    render          frames of a job, grids and contact sheets, segments, ffmpeg encoding
    editor          the editor's edge: Kdenlive projects written and read for keys and guides, MLT's environment,
                    whole-project renders through melt, the beats of a project's audio
    workflows       journeys in batches with their Kdenlive project and sheet, the first-run demo
    daemon          the render daemon: wire protocol, typed messages, cache, leases, server, workers, client
    watch           re-conform on every save and send the job to a daemon
    react           a video or camera steering the latents
    explore         the web explorer
    cli             the ``latentcut`` command, a thin shell over all of the above
"""

__version__ = "0.1.0"
