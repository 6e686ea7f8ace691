/*
 * producer_latent.c -- a latent clip: plays its proxy video, knows its z-sequence sidecar,
 * and on request serves the online render of the same frames instead.
 *
 * The resource is the proxy video. Frames, length, seeking and frame-rate conversion are those of
 * an avformat producer on that file, so a latent clip behaves in MLT exactly like the proxy it wraps.
 * The sidecar (the one the proxy's container tag latent_sidecar names, else the clip's latent:sidecar
 * property, relative to the project's root folder, else <stem>.z.npy beside the proxy) and the
 * sidecar's id, sha256, frame count and latent size, read from the proxy's own container tags (no
 * JSON is parsed here), are exposed as latent.* properties. With online=1, frames come from
 * online_resource (default <stem>.online.mkv beside the proxy), which has the same frames and rate.
 */

#include "document_root.h"

#include <framework/mlt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int producer_get_frame(mlt_producer producer, mlt_frame_ptr frame, int index);
static void producer_close(mlt_producer producer);

/** The proxy's container tag KEY as avformat exposes it: meta.attr.KEY.markup (Matroska upper-cases keys). */
static const char *container_tag(mlt_properties properties, const char *key)
{
    char name[128], upper[64];
    snprintf(name, sizeof(name), "meta.attr.%s.markup", key);
    const char *value = mlt_properties_get(properties, name);
    if (value)
        return value;
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof(upper); i++)
        upper[i] = (key[i] >= 'a' && key[i] <= 'z') ? key[i] - 'a' + 'A' : key[i];
    upper[i] = '\0';
    snprintf(name, sizeof(name), "meta.attr.%s.markup", upper);
    return mlt_properties_get(properties, name);
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

/** The file name of a path: "clips/a.z.npy" -> "a.z.npy". */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/**
 * Find the sidecar and what the proxy says about it, from the proxy's container tags only (latentcut
 * render writes them): the sidecar the latent_sidecar tag names (relative to the proxy's folder),
 * else the clip's latent:sidecar property (absolute, or relative to the root folder of the project
 * the clip was loaded from, as the Python conform reads it; relative to the working directory when
 * the clip comes from no project file), else <stem>.z.npy beside the proxy. latent.id, latent.sha256,
 * latent.frames and latent.dim come from the tags when they describe that sidecar.
 */
static void link_sidecar(mlt_properties properties)
{
    const char *resource = mlt_properties_get(properties, "resource");
    if (!resource)
        return;
    char path[PATH_MAX + 32];
    const char *tag = container_tag(properties, "latent_sidecar");
    const char *property = mlt_properties_get(properties, "latent:sidecar");
    if (tag && tag[0] && tag[0] != '/') {
        const char *slash = strrchr(resource, '/');
        snprintf(path, sizeof(path), "%.*s%s", slash ? (int) (slash - resource + 1) : 0, resource, tag);
    } else if (tag && tag[0]) {
        snprintf(path, sizeof(path), "%s", tag);
    } else if (property && property[0]) {
        const char *root = mlt_properties_get(properties, "_latent.root");
        if (root && root[0] && property[0] != '/')
            snprintf(path, sizeof(path), "%s/%s", root, property);
        else
            snprintf(path, sizeof(path), "%s", property);
    } else {
        char stem[PATH_MAX];
        stem_of(resource, stem, sizeof(stem));
        snprintf(path, sizeof(path), "%s.z.npy", stem);
    }
    mlt_properties_set(properties, "latent.sidecar", path);
    int described = !tag || !tag[0] || !strcmp(base_of(tag), base_of(path));
    const char *keys[][2] = {
        {"latent_sidecar_id", "latent.id"},
        {"latent_sidecar_sha256", "latent.sha256"},
        {"latent_frames", "latent.frames"},
        {"latent_dim", "latent.dim"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *value = described ? container_tag(properties, keys[i][0]) : NULL;
        mlt_properties_set(properties, keys[i][1], value);
    }
}

/** A latent:sidecar property set after the producer was made (the XML loader sets properties then) re-links it. */
static void property_changed(mlt_properties owner, mlt_producer self, mlt_event_data data)
{
    (void) owner;
    const char *name = mlt_event_data_to_string(data);
    if (name && !strcmp(name, "latent:sidecar"))
        link_sidecar(MLT_PRODUCER_PROPERTIES(self));
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
        // close is not set yet: this closes the service's properties, and the struct is ours to free.
        mlt_producer_close(self);
        free(self);
        return NULL;
    }
    mlt_properties proxy_properties = MLT_PRODUCER_PROPERTIES(proxy);
    mlt_properties_set(properties, "resource", arg);
    mlt_properties_pass_list(properties, proxy_properties, "length, in, out, seekable, width, height, aspect_ratio, frame_rate, "
                                                           "progressive, colorspace, audio_index, video_index");
    mlt_properties_copy(properties, proxy_properties, "meta.");
    mlt_properties_set_data(properties, "_proxy", proxy, 0, (mlt_destructor) mlt_producer_close, NULL);
    self->get_frame = producer_get_frame;
    self->close = (mlt_destructor) producer_close;

    char stem[PATH_MAX], online[PATH_MAX + 32];
    stem_of(arg, stem, sizeof(stem));
    snprintf(online, sizeof(online), "%s.online.mkv", stem);
    mlt_properties_set(properties, "online_resource", online);
    mlt_properties_set_int(properties, "online", 0);
    // The XML loader sets latent:sidecar after this returns, still inside the document's load.
    mlt_properties_set(properties, "_latent.root", document_root());
    link_sidecar(properties);
    mlt_events_listen(properties, self, "property-changed", (mlt_listener) property_changed);
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
