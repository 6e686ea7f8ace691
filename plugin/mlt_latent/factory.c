/*
 * factory.c -- registers the latentcut "latent" producer and "latent_controls" filter with MLT
 */

#include "document_root.h"

#include <framework/mlt.h>
#include <limits.h>
#include <string.h>

extern mlt_producer producer_latent_init(mlt_profile profile, mlt_service_type type, const char *id, char *arg);
extern mlt_filter latent_controls_init(mlt_profile profile, mlt_service_type type, const char *id, char *arg);

static mlt_properties metadata(mlt_service_type type, const char *id, void *data)
{
    char file[PATH_MAX];
    (void) type;
    (void) id;
    int length = snprintf(file, sizeof(file), "%s/latent/%s", mlt_environment("MLT_DATA"), (char *) data);
    return length < 0 || (size_t) length >= sizeof(file) ? NULL : mlt_properties_parse_yaml(file);
}

MLT_REPOSITORY
{
    MLT_REGISTER(mlt_service_producer_type, "latent", producer_latent_init);
    MLT_REGISTER_METADATA(mlt_service_producer_type, "latent", metadata, "producer_latent.yml");
    MLT_REGISTER(mlt_service_filter_type, "latent_controls", latent_controls_init);
    MLT_REGISTER_METADATA(mlt_service_filter_type, "latent_controls", metadata, "filter_latent_controls.yml");
    latent_document_root_track();
}
