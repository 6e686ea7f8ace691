/*
 * producer_latent.c -- a latent clip: plays its proxy video, knows its z-sequence sidecar,
 * and on request serves the online render of the same frames instead.
 *
 * The resource is the proxy video. Frames, length, seeking and frame-rate conversion are those of
 * an avformat producer on that file, so a latent clip behaves in MLT exactly like the proxy it wraps.
 * The sidecar <stem>.z.npy / <stem>.z.json beside the proxy (or the one its container tag
 * latent_sidecar names) is exposed as latent.* properties. With online=1, frames come from
 * online_resource (default <stem>.online.mkv beside the proxy), which has the same frames and rate.
 */

#include <framework/mlt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int producer_get_frame(mlt_producer producer, mlt_frame_ptr frame, int index);
static void producer_close(mlt_producer producer);

/** Copy the JSON value of "key" (a string or a number) from text into out; return 0 on success. */
static int json_value(const char *text, const char *key, char *out, size_t size)
{
    char quoted[128];
    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    const char *at = strstr(text, quoted);
    if (!at)
        return 1;
    at = strchr(at + strlen(quoted), ':');
    if (!at)
        return 1;
    at++;
    while (*at == ' ' || *at == '\n' || *at == '\t')
        at++;
    size_t n = 0;
    if (*at == '"') {
        at++;
        while (at[n] && at[n] != '"' && n + 1 < size)
            n++;
    } else {
        while (at[n] && (at[n] == '-' || (at[n] >= '0' && at[n] <= '9')) && n + 1 < size)
            n++;
    }
    memcpy(out, at, n);
    out[n] = '\0';
    return n == 0;
}

/** The path of the proxy without its extension: "clips/a.mp4" -> "clips/a". */
static void stem_of(const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s", path);
    char *dot = strrchr(out, '.');
    char *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash))
        *dot = '\0';
}

/** Read <sidecar stem>.z.json and set latent.id, latent.sha256, latent.frames, latent.dim. */
static void read_sidecar(mlt_properties properties, const char *npy_path)
{
    char json_path[PATH_MAX + 32];
    size_t length = strlen(npy_path);
    if (length > 4 && !strcmp(npy_path + length - 4, ".npy"))
        snprintf(json_path, sizeof(json_path), "%.*s.json", (int) (length - 4), npy_path);
    else
        return;
    FILE *file = fopen(json_path, "rb");
    if (!file)
        return;
    char text[8192];
    size_t read = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[read] = '\0';
    const char *keys[][2] = {{"id", "latent.id"}, {"sha256", "latent.sha256"}, {"frames", "latent.frames"}, {"dim", "latent.dim"}};
    char value[256];
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!json_value(text, keys[i][0], value, sizeof(value)))
            mlt_properties_set(properties, keys[i][1], value);
}

/** Find the sidecar: the container tag latent_sidecar (relative to the proxy's folder), else <stem>.z.npy. */
static void link_sidecar(mlt_properties properties, const char *resource)
{
    char path[PATH_MAX + 32];
    const char *tag = mlt_properties_get(properties, "meta.attr.latent_sidecar.markup");
    if (!tag)
        tag = mlt_properties_get(properties, "meta.attr.LATENT_SIDECAR.markup");
    if (tag && tag[0] != '/') {
        const char *slash = strrchr(resource, '/');
        snprintf(path, sizeof(path), "%.*s%s", slash ? (int) (slash - resource + 1) : 0, resource, tag);
    } else if (tag) {
        snprintf(path, sizeof(path), "%s", tag);
    } else {
        char stem[PATH_MAX];
        stem_of(resource, stem, sizeof(stem));
        snprintf(path, sizeof(path), "%s.z.npy", stem);
    }
    mlt_properties_set(properties, "latent.sidecar", path);
    read_sidecar(properties, path);
}

mlt_producer producer_latent_init(mlt_profile profile, mlt_service_type type, const char *id, char *arg)
{
    (void) type;
    (void) id;
    if (!arg || !arg[0])
        return NULL;
    mlt_producer self = calloc(1, sizeof(struct mlt_producer_s));
    if (!self)
        return NULL;
    if (mlt_producer_init(self, NULL)) {
        free(self);
        return NULL;
    }
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    mlt_producer proxy = mlt_factory_producer(profile, "avformat", arg);
    if (!proxy) {
        mlt_log_error(MLT_PRODUCER_SERVICE(self), "cannot open the proxy video %s\n", arg);
        mlt_producer_close(self);
        return NULL;
    }
    mlt_properties proxy_properties = MLT_PRODUCER_PROPERTIES(proxy);
    mlt_properties_set(properties, "resource", arg);
    mlt_properties_pass_list(properties, proxy_properties, "length, in, out, seekable, width, height, aspect_ratio, frame_rate, "
                                                           "progressive, colorspace, audio_index, video_index");
    mlt_properties_copy(properties, proxy_properties, "meta.");
    mlt_properties_set_data(properties, "_proxy", proxy, 0, (mlt_destructor) mlt_producer_close, NULL);

    char stem[PATH_MAX], online[PATH_MAX + 32];
    stem_of(arg, stem, sizeof(stem));
    snprintf(online, sizeof(online), "%s.online.mkv", stem);
    mlt_properties_set(properties, "online_resource", online);
    mlt_properties_set_int(properties, "online", 0);
    link_sidecar(properties, arg);

    self->get_frame = producer_get_frame;
    self->close = (mlt_destructor) producer_close;
    return self;
}

/** The producer frames come from now: the online render when online=1 and it opens, else the proxy. */
static mlt_producer source_of(mlt_producer self)
{
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    mlt_producer proxy = mlt_properties_get_data(properties, "_proxy", NULL);
    if (!mlt_properties_get_int(properties, "online"))
        return proxy;
    const char *wanted = mlt_properties_get(properties, "online_resource");
    mlt_producer online = mlt_properties_get_data(properties, "_online", NULL);
    const char *opened = mlt_properties_get(properties, "_online_resource");
    if (online && opened && wanted && !strcmp(opened, wanted))
        return online;
    // Called from get_frame, which MLT already runs under this service's lock: no locking of our own here.
    online = wanted ? mlt_factory_producer(mlt_service_profile(MLT_PRODUCER_SERVICE(self)), "avformat", wanted) : NULL;
    if (online) {
        mlt_properties_set_data(properties, "_online", online, 0, (mlt_destructor) mlt_producer_close, NULL);
        mlt_properties_set(properties, "_online_resource", wanted);
    } else {
        mlt_log_error(MLT_PRODUCER_SERVICE(self), "cannot open the online render %s; showing the proxy\n", wanted ? wanted : "(none)");
        mlt_properties_set_int(properties, "online", 0);
    }
    return online ? online : proxy;
}

static int producer_get_frame(mlt_producer self, mlt_frame_ptr frame, int index)
{
    mlt_producer source = source_of(self);
    mlt_position position = mlt_producer_frame(self);
    mlt_producer_seek(source, position);
    int error = mlt_service_get_frame(MLT_PRODUCER_SERVICE(source), frame, index);
    if (!error && *frame) {
        mlt_properties frame_properties = MLT_FRAME_PROPERTIES(*frame);
        mlt_frame_set_position(*frame, mlt_producer_position(self));
        mlt_properties_set(frame_properties, "latent.id", mlt_properties_get(MLT_PRODUCER_PROPERTIES(self), "latent.id"));
        mlt_properties_set_position(frame_properties, "latent.position", position);
    }
    mlt_producer_prepare_next(self);
    return error;
}

static void producer_close(mlt_producer self)
{
    self->close = NULL;
    mlt_producer_close(self);
    free(self);
}
