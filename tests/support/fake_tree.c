/* Fake directory trees for tests: see fake_tree.h. */
#include "fake_tree.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

static void join(const char *root, const char *rel, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/%s", root, rel[0] == '/' ? rel + 1 : rel);
    if (n < 0 || (size_t)n >= cap) fail_msg("fake tree path too long: %s/%s", root, rel);
}

/* mkdir -p for every directory above path's last component (and path itself if dir). */
static void mkdirs(char *path, int include_last) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (include_last && mkdir(path, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

char *ue_fake_root(void) {
    char tmpl[] = "/tmp/ue_fake_XXXXXX";
    if (!mkdtemp(tmpl)) fail_msg("mkdtemp: %s", strerror(errno));
    if (chmod(tmpl, 0755) != 0) fail_msg("chmod %s: %s", tmpl, strerror(errno));
    char *root = strdup(tmpl);
    if (!root) fail_msg("out of memory");
    return root;
}

void ue_fake_write(const char *root, const char *rel, const void *data, size_t len) {
    char path[1024];
    join(root, rel, path, sizeof path);
    mkdirs(path, 0);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("create %s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len) fail_msg("write %s", path);
    if (fclose(f) != 0) fail_msg("close %s", path);
    if (chmod(path, 0644) != 0) fail_msg("chmod %s: %s", path, strerror(errno));
}

void ue_fake_text(const char *root, const char *rel, const char *text) {
    ue_fake_write(root, rel, text, strlen(text));
}

void ue_fake_mkdir(const char *root, const char *rel) {
    char path[1024];
    join(root, rel, path, sizeof path);
    mkdirs(path, 1);
}

void ue_fake_symlink(const char *root, const char *rel, const char *target) {
    char path[1024];
    join(root, rel, path, sizeof path);
    mkdirs(path, 0);
    if (symlink(target, path) != 0) fail_msg("symlink %s: %s", path, strerror(errno));
}

void ue_fake_chmod(const char *root, const char *rel, unsigned mode) {
    char path[1024];
    join(root, rel, path, sizeof path);
    if (chmod(path, (mode_t)mode) != 0) fail_msg("chmod %s: %s", path, strerror(errno));
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void ue_fake_remove(char *root) {
    if (!root) return;
    nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(root);
}
