/* File helpers for the discovery probes: paths below the root prefix, small text files
 * (sysfs attributes, /proc files) read whole, and strict parsers that reject junk. */
#ifndef UE_BACKEND_DISC_FS_H
#define UE_BACKEND_DISC_FS_H

#include <stddef.h>
#include <stdint.h>

#include "backend/discovery/discovery.h"

/* 1 when opts describe this machine (root NULL, "" or "/"). */
int disc_live(const ue_discovery_opts *opts);

/* root + rel ("/sys/..."); 0 on success, -1 when it does not fit. */
int disc_path(const ue_discovery_opts *opts, const char *rel, char *out, size_t cap);

/* Reads up to cap-1 bytes of root+rel, NUL-terminated; *len gets the byte count (which
 * may include NUL bytes from a binary file). Returns 0 or an errno value. */
int disc_read(const ue_discovery_opts *opts, const char *rel, char *buf, size_t cap,
              size_t *len);

/* Reads a one-line text attribute: trailing whitespace cut, and refused (EILSEQ) when it
 * holds NUL or other control bytes. Returns 0 or an errno value. */
int disc_read_line(const ue_discovery_opts *opts, const char *rel, char *buf, size_t cap);

/* Parses "0x1022" / "1022" (hex, at most 8 digits, nothing after); 0 on success. */
int disc_parse_hex(const char *s, uint32_t *out);
/* Parses a decimal integer (nothing after but whitespace); 0 on success. */
int disc_parse_u64(const char *s, uint64_t *out);

/* Copies src into dst (cap bytes) as printable text: control bytes and invalid UTF-8
 * become '?', surrounding whitespace is cut. */
void disc_clean(char *dst, size_t cap, const char *src, size_t len);

/* Shows up to 16 bytes of a bad value for a note: printable kept, others as \xNN. */
void disc_show(char *dst, size_t cap, const char *src, size_t len);

/* Counts CPUs in a kernel CPU list ("0-3,8,10-11"); -1 when malformed. */
int disc_cpulist_count(const char *s);

#endif
