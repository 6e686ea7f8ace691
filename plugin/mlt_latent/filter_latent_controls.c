/*
 * filter_latent_controls.c -- lanes of a latentcut look, keyframed on a clip, a track or the timeline.
 *
 * The filter leaves every frame as it is (the editor keeps showing the proxy); its animatable
 * properties (truncation_psi, translate_x, translate_y, rotate, const_noise, noise_angle, amount)
 * and constants (noise_seed, noise_smooth, direction, direction_index) are read from the project by
 * latentcut's conform, which evaluates each animation with MLT's rules at the positions MLT gives
 * this filter, and renders the latents with them. Several instances may sit on one service.
 */

#include <framework/mlt.h>

#include <stdlib.h>

static mlt_frame filter_process(mlt_filter filter, mlt_frame frame)
{
    (void) filter;
    return frame;
}

mlt_filter latent_controls_init(mlt_profile profile, mlt_service_type type, const char *id, char *arg)
{
    (void) profile;
    (void) type;
    (void) id;
    (void) arg;
    mlt_filter filter = mlt_filter_new();
    if (!filter)
        return NULL;
    filter->process = filter_process;
    return filter;
}
