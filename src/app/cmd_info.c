/* unicorn info: prints a GGUF file's header, every metadata key with its type and value
 * (long arrays and strings abbreviated unless --full), the tensor table and totals.
 * Reads through the validating reader (core/gguf.h), so it doubles as a file checker:
 * a bad file prints "unicorn info: FILE: <reason>" and exits 1. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/commands.h"
#include "app/options.h"
#include "core/gguf.h"

#define STR_SHOWN 120    /* bytes of a string value shown before "..." */
#define ARR_SHOWN 8      /* array elements shown */
#define ARR_STR_SHOWN 5  /* string array elements shown */
#define ARR_STR_BYTES 40 /* bytes of each string array element shown */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (p[0] >= 0xf5 || len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && p[0] == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (len == 3 && p[0] == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
    if (len == 4 && p[0] == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (len == 4 && p[0] == 0xf4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
    return len;
}

/* Writes bytes escaped for a terminal: valid UTF-8 as is, controls and invalid bytes as
 * escapes. Stops after max bytes (0: no limit) and says how long the string was.
 * Returns the columns written (one per character). */
static int put_escaped(const char *s, uint64_t len, uint64_t max, int quoted) {
    const unsigned char *p = (const unsigned char *)s;
    uint64_t i = 0;
    int cols = 0;
    if (quoted) cols += putchar('"') != EOF;
    while (i < len && (max == 0 || i < max)) {
        unsigned char c = p[i];
        size_t u = c >= 0x80 ? utf8_len(p + i, (size_t)(len - i)) : 0;
        if (u) {
            fwrite(p + i, 1, u, stdout);
            i += u;
            cols++;
            continue;
        }
        if (c == '"' && quoted)
            cols += printf("\\\"");
        else if (c == '\\')
            cols += printf("\\\\");
        else if (c == '\n')
            cols += printf("\\n");
        else if (c == '\t')
            cols += printf("\\t");
        else if (c == '\r')
            cols += printf("\\r");
        else if (c < 0x20 || c >= 0x7f)
            cols += printf("\\x%02x", c);
        else
            cols += putchar(c) != EOF;
        i++;
    }
    if (quoted) cols += putchar('"') != EOF;
    if (i < len) cols += printf("...(%" PRIu64 " bytes)", len);
    return cols;
}

static size_t vtype_size(ue_gguf_vtype t) {
    switch (t) {
    case UE_GGUF_U8:
    case UE_GGUF_I8:
    case UE_GGUF_BOOL: return 1;
    case UE_GGUF_U16:
    case UE_GGUF_I16: return 2;
    case UE_GGUF_U32:
    case UE_GGUF_I32:
    case UE_GGUF_F32: return 4;
    default: return 8;
    }
}

/* Fewest significant digits that read back as the same value (1e-06, not 9.99999997e-07). */
static void put_shortest(double v, int is_f32) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (is_f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
    }
    fputs(buf, stdout); /* NaN never compares equal: 17 digits print "nan" anyway */
}

/* One scalar element of type t at p (little-endian, possibly unaligned). */
static void put_scalar(ue_gguf_vtype t, const unsigned char *p) {
    uint64_t u = 0;
    switch (t) {
    case UE_GGUF_U8: printf("%u", p[0]); return;
    case UE_GGUF_I8: printf("%d", (int8_t)p[0]); return;
    case UE_GGUF_BOOL: fputs(p[0] ? "true" : "false", stdout); return;
    default: break;
    }
    for (size_t i = vtype_size(t); i-- > 0;) u = (u << 8) | p[i];
    float f;
    double d;
    uint32_t u32 = (uint32_t)u;
    switch (t) {
    case UE_GGUF_U16: printf("%u", (unsigned)(uint16_t)u); break;
    case UE_GGUF_I16: printf("%d", (int16_t)(uint16_t)u); break;
    case UE_GGUF_U32: printf("%" PRIu32, u32); break;
    case UE_GGUF_I32: printf("%" PRId32, (int32_t)u32); break;
    case UE_GGUF_U64: printf("%" PRIu64, u); break;
    case UE_GGUF_I64: printf("%" PRId64, (int64_t)u); break;
    case UE_GGUF_F32:
        memcpy(&f, &u32, sizeof f);
        put_shortest(f, 1);
        break;
    case UE_GGUF_F64:
        memcpy(&d, &u, sizeof d);
        put_shortest(d, 0);
        break;
    default: printf("?"); break;
    }
}

static void put_value(const ue_gguf *g, uint64_t k, int full) {
    ue_gguf_vtype t = ue_gguf_kv_type(g, k);
    if (t == UE_GGUF_STRING) {
        ue_gguf_str s = ue_gguf_kv_str(g, k);
        put_escaped(s.ptr, s.len, full ? 0 : STR_SHOWN, 1);
        return;
    }
    if (t != UE_GGUF_ARRAY) {
        put_scalar(t, ue_gguf_kv_data(g, k));
        return;
    }
    ue_gguf_vtype et = ue_gguf_arr_type(g, k);
    uint64_t n = ue_gguf_arr_len(g, k);
    uint64_t shown = full ? n : et == UE_GGUF_STRING ? ARR_STR_SHOWN : ARR_SHOWN;
    if (shown > n) shown = n;
    putchar('[');
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", stdout);
        if (et == UE_GGUF_STRING) {
            ue_gguf_str s = ue_gguf_arr_str(g, k, i);
            put_escaped(s.ptr, s.len, full ? 0 : ARR_STR_BYTES, 1);
        } else {
            put_scalar(et, (const unsigned char *)ue_gguf_arr_data(g, k) + i * vtype_size(et));
        }
    }
    if (shown < n) printf("%s... %" PRIu64 " more", shown ? ", " : "", n - shown);
    putchar(']');
}

static void put_type(const ue_gguf *g, uint64_t k, char *buf, size_t cap) {
    ue_gguf_vtype t = ue_gguf_kv_type(g, k);
    if (t == UE_GGUF_ARRAY)
        snprintf(buf, cap, "[%s; %" PRIu64 "]", ue_gguf_vtype_name(ue_gguf_arr_type(g, k)),
                 ue_gguf_arr_len(g, k));
    else
        snprintf(buf, cap, "%s", ue_gguf_vtype_name(t));
}

static void print_metadata(const ue_gguf *g, int full) {
    uint64_t n = ue_gguf_n_kv(g);
    int width = 20;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t len = ue_gguf_key(g, k).len;
        if (len > (uint64_t)width) width = len > 48 ? 48 : (int)len;
    }
    printf("\nmetadata: %" PRIu64 " keys\n", n);
    for (uint64_t k = 0; k < n; k++) {
        ue_gguf_str key = ue_gguf_key(g, k);
        char type[48];
        put_type(g, k, type, sizeof type);
        fputs("  ", stdout);
        int cols = put_escaped(key.ptr, key.len, full ? 0 : 64, 0);
        printf("%*s  %-16s ", cols < width ? width - cols : 0, "", type);
        put_value(g, k, full);
        putchar('\n');
    }
}

/* "640 x 262144"; returns its length. */
static int format_shape(const ue_gguf_tensor *t, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? " x " : "", t->ne[d]);
    return (int)strlen(buf);
}

static void print_tensors(const ue_gguf *g) {
    uint64_t n = ue_gguf_n_tensors(g);
    uint64_t count[UE_TYPE_COUNT] = {0}, elems[UE_TYPE_COUNT] = {0}, bytes[UE_TYPE_COUNT] = {0};
    uint64_t total_elems = 0, total_bytes = 0;
    int name_w = 4, shape_w = 5;
    char shape[96];
    for (uint64_t i = 0; i < n; i++) {
        const ue_gguf_tensor *t = ue_gguf_tensor_at(g, i);
        int len = (int)strlen(t->name), slen = format_shape(t, shape, sizeof shape);
        if (len > name_w) name_w = len;
        if (slen > shape_w) shape_w = slen;
    }
    printf("\ntensors: %" PRIu64 "\n", n);
    if (n == 0) return;
    printf("  %5s  %-*s  %-7s  %-*s  %14s  %14s\n", "#", name_w, "name", "type", shape_w, "shape",
           "offset", "bytes");
    for (uint64_t i = 0; i < n; i++) {
        const ue_gguf_tensor *t = ue_gguf_tensor_at(g, i);
        format_shape(t, shape, sizeof shape);
        const ue_type_traits *tr = ue_type_get(t->type);
        printf("  %5" PRIu64 "  %-*s  %-7s  %-*s  %14" PRIu64 "  %14" PRIu64 "\n", i, name_w,
               t->name, tr ? tr->name : "?", shape_w, shape, t->offset, t->n_bytes);
        count[t->type]++;
        elems[t->type] += t->n_elements;
        bytes[t->type] += t->n_bytes;
        total_elems += t->n_elements;
        total_bytes += t->n_bytes;
    }
    printf("\ntotals: %" PRIu64 " parameters (%.1f M), %" PRIu64
           " bytes of tensor data (%.1f MiB)\n",
           total_elems, total_elems / 1e6, total_bytes, total_bytes / 1048576.0);
    for (uint32_t ty = 0; ty < UE_TYPE_COUNT; ty++) {
        if (!count[ty]) continue;
        printf("  %-8s %5" PRIu64 " tensors %14" PRIu64 " parameters %14" PRIu64 " bytes\n",
               ue_type_get(ty)->name, count[ty], elems[ty], bytes[ty]);
    }
}

int cmd_info(int argc, char **argv) {
    int full = 0;
    const app_option options[] = {
        {NULL, "--full", APP_OPT_FLAG, &full, 0, 0, NULL,
         "print every array element and whole strings"},
    };
    const app_command_spec spec = {
        "info", "unicorn info [--full] FILE",
        "Checks a GGUF file and prints its header, metadata (type and value of every key) and "
        "tensor table\n(name, type, shape, offset, bytes) with parameter and byte totals.",
        options, sizeof options / sizeof options[0]};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            app_print_help(&spec);
            return 0;
        }
        if (!strcmp(a, "--full")) {
            full = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "unicorn info: unknown option '%s' (see 'unicorn info --help')\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "unicorn info: one FILE expected, got '%s' and '%s'\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "unicorn info: missing FILE (see 'unicorn info --help')\n");
        return 2;
    }
    ue_gguf *g = NULL;
    ue_error err = {0};
    if (ue_gguf_open(path, &g, &err) != UE_OK) {
        fprintf(stderr, "unicorn info: %s: %s\n", path, err.msg);
        return 1;
    }
    uint64_t size = ue_gguf_file_size(g);
    printf("file: %s\n", path);
    printf("  GGUF version   %" PRIu32 "\n", ue_gguf_version(g));
    printf("  file size      %" PRIu64 " bytes (%.1f MiB)\n", size, size / 1048576.0);
    printf("  alignment      %" PRIu32 "\n", ue_gguf_alignment(g));
    printf("  data offset    %" PRIu64 "\n", ue_gguf_data_offset(g));
    print_metadata(g, full);
    print_tensors(g);
    ue_gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "unicorn info: error writing output\n");
        return 1;
    }
    return 0;
}
