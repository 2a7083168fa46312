/* Rendering of the discovery report for `unicorn devices`: a table for people
 * (cmd_devices.c) and JSON for scripts (devices_json.c). */
#ifndef UE_APP_DEVICES_RENDER_H
#define UE_APP_DEVICES_RENDER_H

#include <stdio.h>

#include "backend/discovery/discovery.h"

/* "1.5 GiB", "32 KiB", "512 B". */
void devices_fmt_bytes(uint64_t bytes, char *buf, size_t cap);
/* "1.3.239" from a Vulkan API version. */
void devices_fmt_api(uint32_t v, char *buf, size_t cap);

void devices_print_table(FILE *out, const ue_discovery *d, const ue_device_choice *choice,
                         unsigned built);
void devices_print_json(FILE *out, const ue_discovery *d, const ue_device_choice *choice,
                        unsigned built);

#endif
