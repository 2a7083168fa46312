/* Throwaway directory trees under a mkdtemp root, for tests that read sysfs-, /proc- and
 * /dev-like files through a root prefix. Every helper fails the test on an error. */
#ifndef UE_TEST_FAKE_TREE_H
#define UE_TEST_FAKE_TREE_H

#include <stddef.h>

/* A new empty directory (mode 0755, so a test may read it as another user); malloc'd. */
char *ue_fake_root(void);
/* Writes root/rel with the given bytes (mode 0644), creating parent directories. */
void ue_fake_write(const char *root, const char *rel, const void *data, size_t len);
void ue_fake_text(const char *root, const char *rel, const char *text);
void ue_fake_mkdir(const char *root, const char *rel);
/* root/rel becomes a symlink to target (taken as is: relative or absolute). */
void ue_fake_symlink(const char *root, const char *rel, const char *target);
void ue_fake_chmod(const char *root, const char *rel, unsigned mode);
/* Deletes the whole tree and frees root. NULL is a no-op. */
void ue_fake_remove(char *root);

#endif
