/*
 * document_root.c -- the folder relative paths resolve against in the MLT XML document being loaded.
 *
 * MLT's XML producer makes a clip's resource absolute against the document's root, but gives
 * producers no way to ask for that root. latentcut's own relative paths (latent:sidecar) must resolve
 * against the same folder, exactly as the Python conform does: the <mlt root="..."> folder when it
 * is a folder that exists, else the folder of the XML file. So the module watches MLT's factory:
 * while an XML document is being loaded (between producer-create-request and producer-create-done for
 * an xml service, on the loading thread), its root is on this thread's stack.
 *
 * An application may answer a request itself; MLT then fires no done event for it. Such an entry is
 * dropped at the next request on that thread that cannot be inside it: the factory keeps a request's
 * event data in its own stack frame, so a request whose data lies at the same depth or shallower than
 * an entry's (the stack grows downwards on every platform MLT runs on) was not made from inside it.
 */

#include "document_root.h"

#include <libxml/xmlreader.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEPTH 32 /* documents loading inside documents on one thread; deeper ones are not tracked */

struct loading {
    const void *request; /* the factory's event data, to pair the done event with its request */
    char *root;          /* NULL when the document gives none (an XML string without a root folder) */
};

static __thread struct loading stack[DEPTH];
static __thread int depth;

static int is_folder(const char *path)
{
    struct stat info;
    return path && path[0] && !stat(path, &info) && S_ISDIR(info.st_mode);
}

/** The root attribute of the document's top element, or NULL; the caller frees it. */
static char *root_attribute(xmlTextReaderPtr reader)
{
    if (!reader)
        return NULL;
    char *root = NULL;
    while (xmlTextReaderRead(reader) == 1) {
        if (xmlTextReaderNodeType(reader) == XML_READER_TYPE_ELEMENT) {
            xmlChar *value = xmlTextReaderGetAttribute(reader, (const xmlChar *) "root");
            if (value) {
                root = strdup((const char *) value);
                xmlFree(value);
            }
            break;
        }
    }
    xmlFreeTextReader(reader);
    return root;
}

/** The file an XML service's argument names, as MLT's XML producer takes it: file:// stripped, ?parameters cut; 1 if it does not fit. */
static int file_name(const char *input, char *path, size_t size)
{
    int length = snprintf(path, size, "%s", strncmp(input, "file://", 7) ? input : input + 7);
    char *query = strchr(path, '?');
    if (query) {
        *query = '\0'; // the name ended inside the buffer, whatever was cut after it
        return 0;
    }
    return length < 0 || (size_t) length >= size;
}

/** The absolute folder of a file: "/p/a.mlt" -> "/p", "a.mlt" -> the working directory. */
static char *folder_of(const char *path)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == path)
        return strdup("/");
    if (slash && path[0] == '/')
        return strndup(path, (size_t) (slash - path));
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    if (!slash)
        return strdup(cwd);
    size_t size = strlen(cwd) + (size_t) (slash - path) + 2;
    char *folder = malloc(size);
    if (folder)
        snprintf(folder, size, "%s/%.*s", cwd, (int) (slash - path), path);
    return folder;
}

/**
 * The root of the document a factory request loads: its root attribute if that is an existing folder,
 * else the XML file's folder; for an XML string without one, NULL (MLT then resolves against the
 * working directory).
 */
static char *root_of(const char *service, const char *input)
{
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    if (!strcmp(service, "xml-string")) {
        char *root = root_attribute(xmlReaderForMemory(input, (int) strlen(input), NULL, NULL, options));
        if (is_folder(root))
            return root;
        free(root);
        return NULL;
    }
    char path[PATH_MAX];
    if (file_name(input, path, sizeof(path)))
        return NULL; // no file has such a name: MLT's loader fails on it too
    char *root = root_attribute(xmlReaderForFile(path, NULL, options));
    if (is_folder(root))
        return root;
    free(root);
    return folder_of(path);
}

static int is_xml_service(const char *service)
{
    return service && (!strcmp(service, "xml") || !strcmp(service, "xml-nogl") || !strcmp(service, "xml-string"));
}

static void pop(void)
{
    depth--;
    free(stack[depth].root);
    stack[depth].root = NULL;
}

static void on_request(mlt_properties owner, void *object, mlt_event_data event)
{
    (void) owner;
    (void) object;
    mlt_factory_event_data *data = mlt_event_data_to_object(event);
    if (!data)
        return;
    // Entries whose request was answered by the application: this request is not made from inside them.
    while (depth > 0 && (uintptr_t) stack[depth - 1].request <= (uintptr_t) data)
        pop();
    if (!is_xml_service(data->name) || !data->input || depth >= DEPTH)
        return;
    stack[depth].request = data;
    stack[depth].root = root_of(data->name, data->input);
    depth++;
}

static void on_done(mlt_properties owner, void *object, mlt_event_data event)
{
    (void) owner;
    (void) object;
    mlt_factory_event_data *data = mlt_event_data_to_object(event);
    if (!data || !is_xml_service(data->name))
        return;
    // Unwind to this document's entry, with any above it whose request an application answered itself.
    for (int i = depth - 1; i >= 0; i--) {
        if (stack[i].request != data)
            continue;
        while (depth > i)
            pop();
        break;
    }
}

void latent_document_root_track(void)
{
    mlt_properties events = mlt_factory_event_object();
    if (!events)
        return;
    mlt_events_listen(events, NULL, "producer-create-request", (mlt_listener) on_request);
    mlt_events_listen(events, NULL, "producer-create-done", (mlt_listener) on_done);
}

const char *latent_document_root(void)
{
    return depth > 0 ? stack[depth - 1].root : NULL;
}
