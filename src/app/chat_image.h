/* An image attached to a chat message: where it came from (an absolute path, for /save),
 * its pixels until the first encode, then its soft-token embeddings, kept so that
 * re-reading the conversation (/system, /load's shared prefix, dropped turns, /regen)
 * does not run the vision encoder again. Reference-counted: a message, the pending list
 * and the conversation's record of the context may each hold it. */
#ifndef UE_APP_CHAT_IMAGE_H
#define UE_APP_CHAT_IMAGE_H

#include "unicorn.h"

typedef struct chat_image chat_image;

/* Reads and decodes the file now, so that a missing or bad file is reported at once. */
ue_status chat_image_open(const char *path, chat_image **out, ue_error *err);
chat_image *chat_image_ref(chat_image *img);
void chat_image_unref(chat_image *img); /* NULL is a no-op */
const char *chat_image_path(const chat_image *img);
/* The embeddings [ue_engine_image_tokens, n_embd] f32 (borrowed while a reference is
 * held), run through the encoder on the first call; *seconds gets the encode time. */
ue_status chat_image_embeddings(chat_image *img, ue_engine *engine, const float **out,
                                double *seconds, ue_error *err);

#endif
