/*
 * document_root.h -- the folder relative paths resolve against in the MLT XML document being loaded.
 */

#ifndef LATENT_DOCUMENT_ROOT_H
#define LATENT_DOCUMENT_ROOT_H

#include <framework/mlt.h>

/** Start watching MLT's factory for XML documents being loaded (once, when the module registers). */
void latent_document_root_track(void);

/** The root folder of the XML document this thread is loading now, or NULL when it loads none or its root is the working directory. */
const char *latent_document_root(void);

#endif
