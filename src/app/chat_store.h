/* Conversations as JSON files for chat's /save and /load:
 *   {"format": "unicorn-chat", "version": 1, "model": "...",
 *    "messages": [{"role": "system", "content": "..."},   (optional, first)
 *                 {"role": "user", "content": "..."}, {"role": "assistant", ...}, ...]}
 * The message list is the OpenAI / Hugging Face shape, so other tools read it too. */
#ifndef UE_APP_CHAT_STORE_H
#define UE_APP_CHAT_STORE_H

#include <stddef.h>

#include "unicorn.h"

ue_status chat_store_save(const char *path, const char *model_name, const char *system,
                          const ue_chat_message *msgs, size_t n, ue_error *err);

/* Reads a file written by chat_store_save (or any {"messages": [...]} of that shape).
 * *system (or NULL) and *msgs with their strings are malloc'd: free with
 * chat_store_free. Roles are checked: system only first, then user / assistant (or
 * model); every content a string without NUL bytes. */
ue_status chat_store_load(const char *path, char **system, ue_chat_message **msgs, size_t *n,
                          ue_error *err);
void chat_store_free(char *system, ue_chat_message *msgs, size_t n);

#endif
