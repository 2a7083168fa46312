/* Conversations as JSON files for chat's /save and /load:
 *   {"format": "unicorn-chat", "version": 1, "model": "...",
 *    "messages": [{"role": "system", "content": "..."},   (optional, first)
 *                 {"role": "user", "content": "...", "images": ["/abs/a.png"]},
 *                 {"role": "assistant", ...}, ...]}
 * The message list is the OpenAI / Hugging Face shape, so other tools read it too;
 * "images" (optional, user messages only) holds the paths of the files attached, in
 * order: the pixels are not stored, /load reads the files again. */
#ifndef UE_APP_CHAT_STORE_H
#define UE_APP_CHAT_STORE_H

#include <stddef.h>

#include "app/chat_prompt.h"
#include "unicorn.h"

/* A message as read from a file: images are the paths stored. */
typedef struct chat_store_msg {
    char *role, *content;
    char **images;
    size_t n_images;
} chat_store_msg;

ue_status chat_store_save(const char *path, const char *model_name, const char *system,
                          const chat_message *msgs, size_t n, ue_error *err);

/* Reads a file written by chat_store_save (or any {"messages": [...]} of that shape).
 * *system (or NULL) and *msgs with their strings are malloc'd: free with
 * chat_store_free. Roles are checked: system only first, then user / assistant (or
 * model); every content and image path a string without NUL bytes; images only on user
 * messages. The image files themselves are not opened here. */
ue_status chat_store_load(const char *path, char **system, chat_store_msg **msgs, size_t *n,
                          ue_error *err);
void chat_store_free(char *system, chat_store_msg *msgs, size_t n);

#endif
