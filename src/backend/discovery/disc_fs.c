/* File helpers for the discovery probes (see disc_fs.h). Everything here treats the file
 * contents as untrusted: sysfs and /proc normally hold short ASCII lines, but a fake tree,
 * a broken driver or a test may put anything there. */
#include "backend/discovery/disc_fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int disc_live(const ue_discovery_opts *opts) {
    const char *r = opts ? opts->root : NULL;
    return !r || !*r || !strcmp(r, "/");
}

int disc_path(const ue_discovery_opts *opts, const char *rel, char *out, size_t cap) {
    const char *root = disc_live(opts) ? "" : opts->root;
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/') rl--; /* "/tmp/x/" + "/sys" */
    int n = snprintf(out, cap, "%.*s%s", (int)rl, root, rel);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int disc_read(const ue_discovery_opts *opts, const char *rel, char *buf, size_t cap,
              size_t *len) {
    char path[1024];
    *len = 0;
    if (cap == 0) return EINVAL;
    buf[0] = '\0';
    if (disc_path(opts, rel, path, sizeof path) != 0) return ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            buf[0] = '\0';
            return e;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return 0;
}

int disc_read_line(const ue_discovery_opts *opts, const char *rel, char *buf, size_t cap) {
    size_t len = 0;
    int e = disc_read(opts, rel, buf, cap, &len);
    if (e) return e;
    while (len > 0 && isspace((unsigned char)buf[len - 1])) buf[--len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x20 || c == 0x7f) return EILSEQ;
    }
    return 0;
}

int disc_parse_hex(const char *s, uint32_t *out) {
    while (*s == ' ' || *s == '\t') s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2;
    uint32_t v = 0;
    int digits = 0;
    for (; isxdigit((unsigned char)*s); s++, digits++) {
        if (digits == 8) return -1;
        int c = (unsigned char)*s;
        v = v * 16 + (uint32_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
    }
    while (*s && isspace((unsigned char)*s)) s++;
    if (digits == 0 || *s) return -1;
    *out = v;
    return 0;
}

int disc_parse_u64(const char *s, uint64_t *out) {
    while (*s == ' ' || *s == '\t') s++;
    uint64_t v = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*s); s++, digits++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    while (*s && isspace((unsigned char)*s)) s++;
    if (digits == 0 || *s) return -1;
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t want;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) want = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) want = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) want = 4, min = 0x10000;
    else return 0;
    if (n < want) return 0;
    unsigned cp = c & (0xffu >> (want + 1));
    for (size_t i = 1; i < want; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return want;
}

void disc_clean(char *dst, size_t cap, const char *src, size_t len) {
    if (cap == 0) return;
    const unsigned char *s = (const unsigned char *)src;
    while (len > 0 && isspace(s[0])) s++, len--;
    while (len > 0 && isspace(s[len - 1])) len--;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = s[i] < 0x20 || s[i] == 0x7f ? 0 : utf8_len(s + i, len - i);
        if (n == 0) {
            if (o + 1 >= cap) break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= cap) break; /* never cut a character in half */
        memcpy(dst + o, s + i, n);
        o += n;
        i += n;
    }
    dst[o] = '\0';
}

void disc_show(char *dst, size_t cap, const char *src, size_t len) {
    size_t o = 0;
    if (cap == 0) return;
    dst[0] = '\0';
    for (size_t i = 0; i < len && i < 16; i++) {
        unsigned char c = (unsigned char)src[i];
        int n = (c >= 0x20 && c < 0x7f && c != '\\')
                    ? snprintf(dst + o, cap - o, "%c", c)
                    : snprintf(dst + o, cap - o, "\\x%02x", c);
        if (n < 0 || (size_t)n >= cap - o) break;
        o += (size_t)n;
    }
    if (len > 16 && o + 4 < cap) memcpy(dst + o, "...", 4);
}

int disc_cpulist_count(const char *s) {
    int count = 0;
    while (*s && !isspace((unsigned char)*s)) {
        uint64_t a = 0, b;
        int d = 0;
        while (isdigit((unsigned char)*s) && d < 7) a = a * 10 + (uint64_t)(*s++ - '0'), d++;
        if (d == 0 || isdigit((unsigned char)*s)) return -1;
        b = a;
        if (*s == '-') {
            s++;
            b = 0, d = 0;
            while (isdigit((unsigned char)*s) && d < 7) b = b * 10 + (uint64_t)(*s++ - '0'), d++;
            if (d == 0 || b < a || isdigit((unsigned char)*s)) return -1;
        }
        if (b - a + 1 > 1000000 - (uint64_t)count) return -1;
        count += (int)(b - a + 1);
        if (*s == ',') s++;
        else if (*s && !isspace((unsigned char)*s)) return -1;
    }
    return count > 0 ? count : -1;
}
