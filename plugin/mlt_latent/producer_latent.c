/*
 * producer_latent.c -- a latent clip: plays its proxy video, knows its z-sequence sidecar,
 * and on request serves the online render of the same frames instead.
 *
 * The resource is the proxy video, played by an avformat producer inside this one: frames, length,
 * seeking and frame-rate conversion are avformat's. avformat's parameters (audio_index, force_fps,
 * force_progressive, ...) pass between the two producers both ways, as MLT's timewarp passes them,
 * so an editor's changes to the clip reach the decoder; what avformat reads from the file (meta.*,
 * length) flows up only, so a project's saved copy never overrides the file.
 *
 * Kdenlive 22.12 decides what a clip is by its exact mlt_service: avformat-novalidate is a video clip
 * (timeline thumbnails, codec, size and rate in Clip Properties), anything it does not know is a clip of
 * unknown type. While it plays the proxy the producer is exactly such a clip, so it presents itself as
 * one; with online=1 it is latent again (MLT's clones of it must then be latent producers too). MLT's
 * XML writer, which Kdenlive saves and copies clips with, writes _xml_mlt_service: always latent.
 *
 * What the producer derives is private (a leading _, which MLT's XML writer never saves, so a moved
 * project keeps no stale path): the sidecar (the one the proxy's latent_sidecar container tag names,
 * else the clip's latent:sidecar property, relative to the project's root folder, else <stem>.z.npy
 * beside the proxy) and the sidecar's id, sha256, frame count and latent size from the proxy's own
 * container tags (no JSON is parsed here), as _latent.sidecar, _latent.id, _latent.sha256,
 * _latent.frames and _latent.dim; and the default online render, <stem>.online.mkv beside the proxy.
 * With online=1, frames come from online_resource (that default unless set), which has the same
 * frames and rate as the proxy.
 *
 * With refresh=1 the producer follows its proxy file as another program replaces it (latentcut's
 * preview of the rendered edit): at most every REFRESH_INTERVAL_MS, at a frame request, it looks
 * whether the file at the resource path is another one (inode, device, size or modification time),
 * and if so reopens it for this and later frames, as MLT's glaxnimate producer reopens its file at
 * the next image after refresh is set (setting refresh again makes the next frame look at once).
 * The clip may then be longer than its file: frames past the file's end are blank (test cards, as a
 * playlist's blanks are), so lower tracks show through. Such a clip is FOLLOWED_LENGTH_S long (or its
 * file's length, if longer), in and out points as the project sets them: an editor that loads the
 * clip again when its file changes (Kdenlive 22.12 does) then keeps its length on the timeline
 * instead of cutting it to a shorter file, and an edit that grows only needs the clip dragged longer.
 */

#include "document_root.h"

#include <framework/mlt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ONLINE_DEFAULT "_latent.online_default"
#define PRESENTED "avformat-novalidate"
#define REFRESH_INTERVAL_MS 250         /* refresh=1 looks at the file at most four times a second */
#define FOLLOWED_LENGTH_S (24 * 60 * 60) /* a followed clip may be this long, whatever its file holds now */

/** What tells one file at a path from another that replaced it. */
typedef struct
{
    dev_t device;
    ino_t inode;
    off_t size;
    struct timespec modified;
    mode_t mode;
} file_identity;

typedef struct
{
    mlt_producer proxy;        /* avformat on the proxy video */
    mlt_producer online;       /* avformat on the online render, once shown */
    char *online_file;         /* the file online plays */
    mlt_properties parameters; /* avformat's parameter names, passed both ways */
    int passed;                /* parameters set while events were blocked have reached the proxy (at the first frame) */
    file_identity opened;      /* the proxy file as it was when opened */
    mlt_position file_frames;  /* the frames it holds (avformat's length) */
    double looked_ms;          /* when refresh=1 last looked at the file (a monotonic clock), 0: at the next frame */
} private_data;

static int producer_get_frame(mlt_producer producer, mlt_frame_ptr frame, int index);
static void producer_close(mlt_producer producer);

/** vsnprintf that refuses to truncate: 0 when the whole text fits into out, else 1. */
static int formatted(char *out, size_t size, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(out, size, format, arguments);
    va_end(arguments);
    return length < 0 || (size_t) length >= size;
}

/** The identity of the file at path; all zeros when there is none. */
static file_identity identity_of(const char *path)
{
    file_identity identity;
    struct stat info;
    memset(&identity, 0, sizeof(identity));
    if (path && !stat(path, &info)) {
        identity.device = info.st_dev;
        identity.inode = info.st_ino;
        identity.size = info.st_size;
        identity.modified = info.st_mtim;
        identity.mode = info.st_mode;
    }
    return identity;
}

static int same_file(const file_identity *a, const file_identity *b)
{
    return a->device == b->device && a->inode == b->inode && a->size == b->size && a->modified.tv_sec == b->modified.tv_sec
           && a->modified.tv_nsec == b->modified.tv_nsec;
}

static double monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000.0 + now.tv_nsec / 1e6;
}

/** The proxy's container tag KEY as avformat exposes it: meta.attr.KEY.markup (Matroska upper-cases keys). */
static const char *container_tag(mlt_properties properties, const char *key)
{
    char name[128], upper[64];
    if (formatted(name, sizeof(name), "meta.attr.%s.markup", key))
        return NULL;
    const char *value = mlt_properties_get(properties, name);
    if (value)
        return value;
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof(upper); i++)
        upper[i] = (key[i] >= 'a' && key[i] <= 'z') ? key[i] - 'a' + 'A' : key[i];
    upper[i] = '\0';
    return formatted(name, sizeof(name), "meta.attr.%s.markup", upper) ? NULL : mlt_properties_get(properties, name);
}

/** The file name of a path: "clips/a.z.npy" -> "a.z.npy". */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/** The length of the path without its extension: "clips/a.mp4" -> 7. */
static int stem_length(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && dot > base_of(path) ? (int) (dot - path) : (int) strlen(path);
}

/**
 * Find the sidecar and what the proxy says about it, from the proxy's container tags only (latentcut
 * render writes them): the sidecar the latent_sidecar tag names (relative to the proxy's folder),
 * else the clip's latent:sidecar property (absolute, or relative to the root folder of the project
 * the clip was loaded from, as the Python conform reads it; relative to the working directory when
 * the clip comes from no project file), else <stem>.z.npy beside the proxy. _latent.id,
 * _latent.sha256, _latent.frames and _latent.dim come from the tags when they describe that sidecar.
 * A path that does not fit into PATH_MAX links no sidecar (logged), rather than a truncated one.
 */
static void link_sidecar(mlt_producer self)
{
    private_data *pdata = self->child;
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    mlt_properties file = MLT_PRODUCER_PROPERTIES(pdata->proxy); // the tags as avformat read them, never a saved copy
    const char *resource = mlt_properties_get(properties, "resource");
    const char *tag = container_tag(file, "latent_sidecar");
    const char *property = mlt_properties_get(properties, "latent:sidecar");
    const char *root = mlt_properties_get(properties, "_latent.root");
    char path[PATH_MAX];
    int overflow;
    if (tag && tag[0] && tag[0] != '/')
        overflow = formatted(path, sizeof(path), "%.*s%s", (int) (base_of(resource) - resource), resource, tag);
    else if (tag && tag[0])
        overflow = formatted(path, sizeof(path), "%s", tag);
    else if (property && property[0] && property[0] != '/' && root && root[0])
        overflow = formatted(path, sizeof(path), "%s/%s", root, property);
    else if (property && property[0])
        overflow = formatted(path, sizeof(path), "%s", property);
    else
        overflow = formatted(path, sizeof(path), "%.*s.z.npy", stem_length(resource), resource);
    const char *keys[][2] = {
        {"latent_sidecar_id", "_latent.id"},
        {"latent_sidecar_sha256", "_latent.sha256"},
        {"latent_frames", "_latent.frames"},
        {"latent_dim", "_latent.dim"},
    };
    int described = !overflow && (!tag || !tag[0] || !strcmp(base_of(tag), base_of(path)));
    if (overflow)
        mlt_log_error(MLT_PRODUCER_SERVICE(self), "the sidecar path of %s is longer than %d bytes: the clip is linked to no sidecar\n",
                      resource, PATH_MAX - 1);
    mlt_properties_set(properties, "_latent.sidecar", overflow ? NULL : path);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        mlt_properties_set(properties, keys[i][1], described ? container_tag(file, keys[i][0]) : NULL);
}

/** Whether a property passes between this producer and avformat: one of avformat's parameters, never the resource. */
static int is_parameter(private_data *pdata, const char *name)
{
    return name && strcmp(name, "resource") && mlt_properties_get_int(pdata->parameters, name);
}

/** The service name this producer shows while online is as it is (see the file's comment). */
static void present(mlt_producer self)
{
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    mlt_properties_set(properties, "mlt_service", mlt_properties_get_int(properties, "online") ? "latent" : PRESENTED);
}

/** Make the clip at least ``frames`` long (its in and out points stay). */
static void lengthen(mlt_producer self, double frames)
{
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    if (frames > mlt_producer_get_length(self)) {
        mlt_events_block(properties, self);
        mlt_properties_set_position(properties, "length", (mlt_position) frames);
        mlt_events_unblock(properties, self);
    }
}

/** A parameter of this producer set after it was made (the XML loader, Kdenlive's clip properties) reaches avformat. */
static void property_changed(mlt_properties owner, mlt_producer self, mlt_event_data data)
{
    (void) owner;
    private_data *pdata = self->child;
    const char *name = mlt_event_data_to_string(data);
    if (!name)
        return;
    if (!strcmp(name, "latent:sidecar"))
        link_sidecar(self);
    else if (!strcmp(name, "online"))
        present(self);
    else if (!strcmp(name, "refresh")) {
        pdata->looked_ms = 0; // the next frame looks at the file, whenever it last did
        if (mlt_properties_get_int(MLT_PRODUCER_PROPERTIES(self), "refresh"))
            lengthen(self, FOLLOWED_LENGTH_S * mlt_producer_get_fps(self));
    }
    else if (is_parameter(pdata, name)) {
        mlt_producer targets[] = {pdata->proxy, pdata->online};
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
            if (!targets[i])
                continue;
            mlt_properties target = MLT_PRODUCER_PROPERTIES(targets[i]);
            mlt_events_block(target, self);
            mlt_properties_pass_property(target, MLT_PRODUCER_PROPERTIES(self), name);
            mlt_events_unblock(target, self);
        }
    }
}

/** What avformat learns or changes about the proxy (its parameters, meta.*, length) reaches this producer.
 *  With refresh=1 the length is the project's, which a file only lengthens (see follow_file). */
static void proxy_property_changed(mlt_properties owner, mlt_producer self, mlt_event_data data)
{
    (void) owner;
    private_data *pdata = self->child;
    const char *name = mlt_event_data_to_string(data);
    int length = name && !strcmp(name, "length") && !mlt_properties_get_int(MLT_PRODUCER_PROPERTIES(self), "refresh");
    if (name && (is_parameter(pdata, name) || !strncmp(name, "meta.", 5) || length)) {
        mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
        mlt_events_block(properties, self);
        mlt_properties_pass_property(properties, MLT_PRODUCER_PROPERTIES(pdata->proxy), name);
        mlt_events_unblock(properties, self);
    }
}

/** The identifiers of avformat's parameters, from its metadata (as MLT's timewarp and chain find them). */
static mlt_properties parameters_of(const char *service)
{
    mlt_properties names = mlt_properties_new();
    mlt_properties metadata = mlt_repository_metadata(mlt_factory_repository(), mlt_service_producer_type, service);
    mlt_properties parameters = metadata ? mlt_properties_get_data(metadata, "parameters", NULL) : NULL;
    for (int i = 0; names && parameters && i < mlt_properties_count(parameters); i++) {
        mlt_properties parameter = mlt_properties_get_data(parameters, mlt_properties_get_name(parameters, i), NULL);
        const char *identifier = parameter ? mlt_properties_get(parameter, "identifier") : NULL;
        if (identifier)
            mlt_properties_set_int(names, identifier, 1);
    }
    return names;
}

/** Copy this producer's avformat parameters onto another avformat producer (the proxy, a newly opened online render). */
static void pass_parameters(mlt_producer self, mlt_producer target)
{
    private_data *pdata = self->child;
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self), target_properties = MLT_PRODUCER_PROPERTIES(target);
    mlt_events_block(target_properties, self);
    for (int i = 0; i < mlt_properties_count(properties); i++) {
        const char *name = mlt_properties_get_name(properties, i), *value = mlt_properties_get_value(properties, i);
        const char *current = mlt_properties_get(target_properties, name);
        if (is_parameter(pdata, name) && value && (!current || strcmp(current, value)))
            mlt_properties_pass_property(target_properties, properties, name);
    }
    mlt_events_unblock(target_properties, self);
}

/** avformat's parameters and meta.* as it read them from the proxy file, onto this producer's properties. */
static void pass_up(mlt_properties properties, private_data *pdata)
{
    mlt_properties proxy_properties = MLT_PRODUCER_PROPERTIES(pdata->proxy);
    for (int i = 0; i < mlt_properties_count(proxy_properties); i++) {
        const char *name = mlt_properties_get_name(proxy_properties, i);
        if (is_parameter(pdata, name) || !strncmp(name, "meta.", 5))
            mlt_properties_pass_property(properties, proxy_properties, name);
    }
    pdata->file_frames = mlt_producer_get_length(pdata->proxy);
}

mlt_producer producer_latent_init(mlt_profile profile, mlt_service_type type, const char *id, char *arg)
{
    (void) type;
    (void) id;
    if (!arg || !arg[0])
        return NULL;
    mlt_producer self = calloc(1, sizeof(struct mlt_producer_s));
    private_data *pdata = calloc(1, sizeof(private_data));
    if (!self || !pdata || mlt_producer_init(self, pdata)) {
        free(self);
        free(pdata);
        return NULL;
    }
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    pdata->opened = identity_of(arg); // before opening: a file replaced meanwhile is opened again at the first look
    pdata->proxy = mlt_factory_producer(profile, "avformat", arg);
    pdata->parameters = parameters_of("avformat");
    if (!pdata->proxy || !pdata->parameters) {
        mlt_log_error(MLT_PRODUCER_SERVICE(self), "cannot open the proxy video %s\n", arg);
        mlt_producer_close(pdata->proxy);
        mlt_properties_close(pdata->parameters);
        free(pdata);
        // close is not set yet: this closes the service's properties, and the struct is ours to free.
        mlt_producer_close(self);
        free(self);
        return NULL;
    }
    self->get_frame = producer_get_frame;
    self->close = (mlt_destructor) producer_close;
    mlt_properties_set(properties, "resource", arg);

    // What avformat found in the file: its parameters, length and points, aspect and rate, meta.*.
    mlt_properties proxy_properties = MLT_PRODUCER_PROPERTIES(pdata->proxy);
    mlt_properties_pass_list(properties, proxy_properties, "length, in, out, seekable, width, height, aspect_ratio, frame_rate, "
                                                           "progressive, colorspace");
    pass_up(properties, pdata);

    int stem = stem_length(arg);
    char online[PATH_MAX];
    if (formatted(online, sizeof(online), "%.*s.online.mkv", stem, arg))
        mlt_log_error(MLT_PRODUCER_SERVICE(self), "the online render of %s would have a path longer than %d bytes: it has none\n", arg,
                      PATH_MAX - 1);
    else
        mlt_properties_set(properties, ONLINE_DEFAULT, online);
    // The XML loader sets latent:sidecar after this returns, still inside the document's load.
    mlt_properties_set(properties, "_latent.root", latent_document_root());
    link_sidecar(self);

    mlt_properties_set_int(properties, "_mlt_service_hidden", 1);
    mlt_properties_set(properties, "_xml_mlt_service", "latent");
    present(self);
    mlt_events_listen(properties, self, "property-changed", (mlt_listener) property_changed);
    mlt_events_listen(proxy_properties, self, "property-changed", (mlt_listener) proxy_property_changed);
    return self;
}

/** The producer frames come from now: the online render when online=1 and it opens, else the proxy. */
static mlt_producer source_of(mlt_producer self)
{
    private_data *pdata = self->child;
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    if (!mlt_properties_get_int(properties, "online"))
        return pdata->proxy;
    const char *wanted = mlt_properties_get(properties, "online_resource");
    wanted = wanted && wanted[0] ? wanted : mlt_properties_get(properties, ONLINE_DEFAULT);
    if (pdata->online && wanted && !strcmp(pdata->online_file, wanted))
        return pdata->online;
    // A FIFO or a device there would block avformat's open for ever, with melt deaf to SIGTERM: only a regular file
    // (or a name stat cannot see, which avformat then resolves and refuses itself) is opened.
    const char *named = wanted;
    struct stat status;
    if (wanted && stat(wanted, &status) == 0 && !S_ISREG(status.st_mode))
        wanted = NULL;
    // Called from get_frame, which MLT already runs under this service's lock: no locking of our own here.
    mlt_producer online = wanted ? mlt_factory_producer(mlt_service_profile(MLT_PRODUCER_SERVICE(self)), "avformat", wanted) : NULL;
    char *file = online ? strdup(wanted) : NULL;
    if (!file) {
        mlt_log_error(MLT_PRODUCER_SERVICE(self), "cannot open the online render %s%s; showing the proxy\n", named ? named : "(none)",
                      named && !wanted ? " (not a regular file)" : "");
        mlt_producer_close(online);
        mlt_properties_set_int(properties, "online", 0);
        return pdata->proxy;
    }
    pass_parameters(self, online);
    // Frames taken from the render shown until now may still wait in a consumer's queue: each holds a reference of its
    // own (mlt_service_get_frame takes one), so this closes it only when the last of them is closed.
    mlt_producer_close(pdata->online);
    free(pdata->online_file);
    pdata->online = online;
    pdata->online_file = file;
    return online;
}

/**
 * With refresh=1: when another file stands at the resource path than the one opened (looked at most
 * every REFRESH_INTERVAL_MS), play it from now on. A file that does not open is logged and looked at
 * again only once it changes; until then the one opened before plays. A longer file lengthens the clip.
 */
static void follow_file(mlt_producer self)
{
    private_data *pdata = self->child;
    mlt_properties properties = MLT_PRODUCER_PROPERTIES(self);
    double now = monotonic_ms();
    if (pdata->looked_ms && now - pdata->looked_ms < REFRESH_INTERVAL_MS)
        return;
    pdata->looked_ms = now;
    const char *resource = mlt_properties_get(properties, "resource");
    file_identity found = identity_of(resource);
    if (!found.inode || same_file(&found, &pdata->opened))
        return; // gone for a moment (a writer between unlink and rename), or the same file
    pdata->opened = found;
    // A FIFO or a device would block avformat's open for ever (see source_of): only a regular file is opened.
    int regular = S_ISREG(found.mode);
    // Called from get_frame, which MLT already runs under this service's lock: no locking of our own here.
    mlt_producer proxy = regular ? mlt_factory_producer(mlt_service_profile(MLT_PRODUCER_SERVICE(self)), "avformat", resource) : NULL;
    if (!proxy) {
        mlt_log_warning(MLT_PRODUCER_SERVICE(self), "cannot open the replaced %s%s; showing the file opened before\n", resource,
                        regular ? "" : " (not a regular file)");
        return;
    }
    pass_parameters(self, proxy);
    // Frames of the file shown until now keep it open (each holds a reference) until the last of them is closed.
    mlt_events_disconnect(MLT_PRODUCER_PROPERTIES(pdata->proxy), self);
    mlt_producer_close(pdata->proxy);
    pdata->proxy = proxy;
    mlt_events_block(properties, self);
    pass_up(properties, pdata);
    mlt_events_unblock(properties, self);
    lengthen(self, pdata->file_frames);
    link_sidecar(self);
    mlt_events_listen(MLT_PRODUCER_PROPERTIES(proxy), self, "property-changed", (mlt_listener) proxy_property_changed);
}

/** The picture of a blank frame: fully transparent, at the size asked (else the profile's, kept on the frame). */
static int transparent_image(mlt_frame frame, uint8_t **buffer, mlt_image_format *format, int *width, int *height, int writable)
{
    (void) writable;
    mlt_properties properties = MLT_FRAME_PROPERTIES(frame);
    *width = *width > 0 ? *width : mlt_properties_get_int(properties, "width");
    *height = *height > 0 ? *height : mlt_properties_get_int(properties, "height");
    *format = mlt_image_rgba;
    int size = mlt_image_format_size(*format, *width, *height, NULL);
    uint8_t *image = mlt_pool_alloc(size);
    if (!image)
        return 1;
    memset(image, 0, size);
    mlt_frame_set_image(frame, image, size, mlt_pool_release);
    *buffer = image;
    return 0;
}

/**
 * A frame where the clip shows nothing (past the end of a followed file): a test card, as a playlist's blank
 * gives, so a tractor shows the tracks below; and should anything draw it all the same (an editor's own
 * compositing), a fully transparent picture rather than a test card's white.
 */
static int blank_frame(mlt_producer self, mlt_frame_ptr frame)
{
    *frame = mlt_frame_init(MLT_PRODUCER_SERVICE(self));
    if (!*frame)
        return 1;
    mlt_properties properties = MLT_FRAME_PROPERTIES(*frame);
    mlt_profile profile = mlt_service_profile(MLT_PRODUCER_SERVICE(self));
    mlt_properties_set_int(properties, "test_image", 1);
    mlt_properties_set_int(properties, "test_audio", 1);
    mlt_properties_set_int(properties, "progressive", 1);
    mlt_properties_set_int(properties, "width", profile ? profile->width : 0);
    mlt_properties_set_int(properties, "height", profile ? profile->height : 0);
    mlt_properties_set_double(properties, "aspect_ratio", profile ? mlt_profile_sar(profile) : 1.0);
    mlt_frame_push_get_image(*frame, transparent_image);
    mlt_frame_set_position(*frame, mlt_producer_position(self));
    return 0;
}

static int producer_get_frame(mlt_producer self, mlt_frame_ptr frame, int index)
{
    private_data *pdata = self->child;
    if (!pdata->passed) {
        // Properties set before the first frame are not all caught as they change (events may be blocked then).
        pass_parameters(self, pdata->proxy);
        pdata->passed = 1;
    }
    int follow = mlt_properties_get_int(MLT_PRODUCER_PROPERTIES(self), "refresh");
    if (follow)
        follow_file(self);
    mlt_producer source = source_of(self);
    mlt_position position = mlt_producer_frame(self);
    if (follow && source == pdata->proxy && position >= pdata->file_frames) {
        int error = blank_frame(self, frame);
        mlt_producer_prepare_next(self);
        return error;
    }
    mlt_producer_seek(source, position);
    int error = mlt_service_get_frame(MLT_PRODUCER_SERVICE(source), frame, index);
    if (!error && *frame) {
        mlt_properties frame_properties = MLT_FRAME_PROPERTIES(*frame);
        mlt_frame_set_position(*frame, mlt_producer_position(self));
        mlt_properties_set(frame_properties, "latent.id", mlt_properties_get(MLT_PRODUCER_PROPERTIES(self), "_latent.id"));
        mlt_properties_set_position(frame_properties, "latent.position", position);
    }
    mlt_producer_prepare_next(self);
    return error;
}

static void producer_close(mlt_producer self)
{
    private_data *pdata = self->child;
    // Queued frames may keep the proxy open after this: it must not call back into a closed producer.
    mlt_events_disconnect(MLT_PRODUCER_PROPERTIES(pdata->proxy), self);
    mlt_producer_close(pdata->proxy);
    mlt_producer_close(pdata->online);
    mlt_properties_close(pdata->parameters);
    free(pdata->online_file);
    free(pdata);
    self->child = NULL;
    self->close = NULL;
    mlt_producer_close(self);
    free(self);
}
