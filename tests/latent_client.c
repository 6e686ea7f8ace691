/*
 * latent_client.c -- a small MLT application that uses the latent producer as editors do, for the tests.
 *
 *   latent_client props PATH [NAME=VALUE ...] -- NAME ...
 *       load PATH (latent:FILE, or an MLT XML project), set NAME=VALUE on the first latent producer made,
 *       then print NAME=VALUE for each NAME asked, before and after one frame is shown (its image got)
 *   latent_client answered PROJECT.mlt CLIP SIDECAR
 *       as an application that answers MLT's request for XML documents itself (no "done" event): load
 *       PROJECT, then make latent:CLIP outside any document, set latent:sidecar=SIDECAR, print _latent.sidecar
 *   latent_client queued CLIP ONLINE1 ONLINE2
 *       take a frame of CLIP, one of ONLINE1 (online=1) and one of ONLINE2 (online_resource changed), close
 *       the producer, and only then get their images (as a consumer's queue does); print the clip ids
 *   latent_client follow CLIP NEW BROKEN
 *       play CLIP with refresh=1 and take five frames: position 0; after renaming NEW over CLIP
 *       and waiting past the producer's interval, 1 and 60 (past NEW's end); after renaming BROKEN (no video)
 *       over CLIP and waiting, 2; after setting refresh=1 again, at once, 3. Close the producer, only then get
 *       their images; print the clip's length, and each frame's clip id (-1: none) and whether it is blank
 *       (then how opaque its picture is at most)
 *
 * Frames are index clips (tests/indexclips.py): the clip id is bits 16-23 of the 8 x 6 grid of 8-pixel blocks.
 */

#include <framework/mlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static mlt_producer made; /* the first latent producer the factory made */

static void on_done(mlt_properties owner, void *object, mlt_event_data event)
{
    (void) owner;
    (void) object;
    mlt_factory_event_data *data = mlt_event_data_to_object(event);
    if (!made && data && data->name && !strcmp(data->name, "latent") && data->service && *(mlt_producer *) data->service) {
        made = *(mlt_producer *) data->service;
        mlt_properties_inc_ref(MLT_PRODUCER_PROPERTIES(made));
    }
}

/** An application answering the request for an XML document itself: MLT then fires no done event. */
static void on_request_answer(mlt_properties owner, void *object, mlt_event_data event)
{
    (void) owner;
    mlt_profile profile = object;
    mlt_factory_event_data *data = mlt_event_data_to_object(event);
    if (data && data->name && !strcmp(data->name, "xml") && data->input)
        *(mlt_producer *) data->service = mlt_repository_create(mlt_factory_repository(), profile, mlt_service_producer_type, "xml",
                                                                 (void *) data->input);
}

static void print(mlt_producer producer, int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++) {
        const char *value = mlt_properties_get(MLT_PRODUCER_PROPERTIES(producer), argv[i]);
        printf("%s=%s\n", argv[i], value ? value : "(none)");
    }
}

/** The clip id an index-coded frame shows, from the centres of blocks 16..23, or -1 without an image. */
static int clip_id(mlt_frame frame)
{
    mlt_image_format format = mlt_image_rgb;
    int width = 64, height = 48, id = 0;
    uint8_t *image = NULL;
    if (mlt_frame_get_image(frame, &image, &format, &width, &height, 0) || !image || width < 64 || height < 48)
        return -1;
    for (int bit = 0; bit < 8; bit++) {
        int block = 16 + bit, x = (block % 8) * 8 + 4, y = (block / 8) * 8 + 4;
        id |= (image[(y * width + x) * 3] > 127) << bit;
    }
    return id;
}

static int props(mlt_profile profile, int argc, char **argv)
{
    int names = 3;
    while (names < argc && strcmp(argv[names], "--"))
        names++;
    mlt_producer top = mlt_factory_producer(profile, NULL, argv[2]);
    if (!top || !made) {
        fprintf(stderr, "latent_client: %s made no latent producer\n", argv[2]);
        mlt_producer_close(top);
        return 1;
    }
    for (int i = 3; i < names; i++) {
        char *pair = strdup(argv[i]), *equals = strchr(pair, '=');
        if (equals) {
            *equals = '\0';
            mlt_properties_set(MLT_PRODUCER_PROPERTIES(made), pair, equals + 1);
        }
        free(pair);
    }
    print(made, argc, argv, names + 1);
    mlt_frame frame = NULL;
    if (!mlt_service_get_frame(MLT_PRODUCER_SERVICE(made), &frame, 0) && frame) {
        printf("frame.clip=%d\nframe.aspect_ratio=%g\n", clip_id(frame), mlt_frame_get_aspect_ratio(frame));
        mlt_frame_close(frame);
    }
    printf("-- after a frame\n");
    print(made, argc, argv, names + 1);
    mlt_producer_close(made);
    mlt_producer_close(top);
    return 0;
}

static int answered(mlt_profile profile, char **argv)
{
    mlt_events_listen(mlt_factory_event_object(), profile, "producer-create-request", (mlt_listener) on_request_answer);
    mlt_producer document = mlt_factory_producer(profile, "xml", argv[2]);
    mlt_events_disconnect(mlt_factory_event_object(), profile);
    mlt_producer clip = mlt_factory_producer(profile, "latent", argv[3]);
    if (!document || !clip) {
        fprintf(stderr, "latent_client: cannot load %s or %s\n", argv[2], argv[3]);
        mlt_producer_close(clip);
        mlt_producer_close(document);
        return 1;
    }
    mlt_properties_set(MLT_PRODUCER_PROPERTIES(clip), "latent:sidecar", argv[4]);
    const char *sidecar = mlt_properties_get(MLT_PRODUCER_PROPERTIES(clip), "_latent.sidecar");
    printf("_latent.sidecar=%s\n", sidecar ? sidecar : "(none)");
    mlt_producer_close(clip);
    mlt_producer_close(document);
    return 0;
}

/** latent:PATH, or NULL after a line on stderr. */
static mlt_producer latent_clip(mlt_profile profile, const char *path)
{
    mlt_producer clip = mlt_factory_producer(profile, "latent", (char *) path);
    if (!clip)
        fprintf(stderr, "latent_client: cannot open %s\n", path);
    return clip;
}

static int queued(mlt_profile profile, char **argv)
{
    mlt_producer clip = latent_clip(profile, argv[2]);
    if (!clip)
        return 1;
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(clip);
    mlt_frame frames[3] = {NULL, NULL, NULL};
    mlt_service_get_frame(MLT_PRODUCER_SERVICE(clip), &frames[0], 0);
    mlt_properties_set_int(properties, "online", 1);
    mlt_properties_set(properties, "online_resource", argv[3]);
    mlt_service_get_frame(MLT_PRODUCER_SERVICE(clip), &frames[1], 0);
    mlt_properties_set(properties, "online_resource", argv[4]);
    mlt_service_get_frame(MLT_PRODUCER_SERVICE(clip), &frames[2], 0);
    mlt_producer_close(clip); // the frames outlive it, as frames queued in a consumer do when the project closes
    for (int i = 0; i < 3; i++) {
        printf("frame%d=%d\n", i, frames[i] ? clip_id(frames[i]) : -1);
        mlt_frame_close(frames[i]);
    }
    return 0;
}

/** The most opaque pixel of a frame's picture as RGBA (0: fully transparent), or -1 without an image. */
static int max_alpha(mlt_frame frame)
{
    mlt_image_format format = mlt_image_rgba;
    int width = 64, height = 48, most = 0;
    uint8_t *image = NULL;
    if (mlt_frame_get_image(frame, &image, &format, &width, &height, 0) || !image || format != mlt_image_rgba)
        return -1;
    for (int i = 0; i < width * height; i++)
        most = image[4 * i + 3] > most ? image[4 * i + 3] : most;
    return most;
}

static void wait_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static mlt_frame frame_at(mlt_producer producer, mlt_position position)
{
    mlt_frame frame = NULL;
    mlt_producer_seek(producer, position);
    mlt_service_get_frame(MLT_PRODUCER_SERVICE(producer), &frame, 0);
    return frame;
}

static int follow(mlt_profile profile, char **argv)
{
    mlt_producer clip = latent_clip(profile, argv[2]);
    if (!clip)
        return 1;
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(clip);
    mlt_properties_set_int(properties, "refresh", 1);
    mlt_frame frames[5];
    frames[0] = frame_at(clip, 0);
    if (rename(argv[3], argv[2]))
        return 1;
    wait_ms(400);
    frames[1] = frame_at(clip, 1);
    frames[2] = frame_at(clip, 60); // past the end of NEW, which holds fewer frames
    if (rename(argv[4], argv[2]))
        return 1;
    wait_ms(400);
    frames[3] = frame_at(clip, 2);
    mlt_properties_set_int(properties, "refresh", 1);
    frames[4] = frame_at(clip, 3);
    printf("length=%d\n", (int) mlt_producer_get_length(clip));
    mlt_producer_close(clip); // the frames outlive it, as frames queued in a consumer do
    for (int i = 0; i < 5; i++) {
        int blank = frames[i] ? mlt_frame_is_test_card(frames[i]) : -1;
        if (blank == 1)
            printf("frame%d=-1 blank=1 alpha=%d\n", i, max_alpha(frames[i]));
        else
            printf("frame%d=%d blank=%d\n", i, frames[i] ? clip_id(frames[i]) : -1, blank);
        mlt_frame_close(frames[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: latent_client props|answered|queued|follow ...\n");
        return 2;
    }
    mlt_repository repository = mlt_factory_init(NULL);
    if (!repository)
        return 1;
    mlt_profile profile = mlt_profile_init(NULL);
    if (!profile)
        return 1;
    // The size and rate of the index clips, so that frames come at their own size.
    profile->width = 64;
    profile->height = 48;
    profile->frame_rate_num = 25;
    profile->frame_rate_den = 1;
    profile->sample_aspect_num = profile->sample_aspect_den = 1;
    profile->display_aspect_num = 4;
    profile->display_aspect_den = 3;
    mlt_events_listen(mlt_factory_event_object(), NULL, "producer-create-done", (mlt_listener) on_done);
    int result = 2;
    if (!strcmp(argv[1], "props"))
        result = props(profile, argc, argv);
    else if (!strcmp(argv[1], "answered") && argc == 5)
        result = answered(profile, argv);
    else if (!strcmp(argv[1], "queued") && argc == 5)
        result = queued(profile, argv);
    else if (!strcmp(argv[1], "follow") && argc == 5)
        result = follow(profile, argv);
    mlt_profile_close(profile);
    mlt_factory_close();
    return result;
}
