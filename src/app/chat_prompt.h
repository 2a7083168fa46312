/* Token sequences of `unicorn chat` prompts, images included: the Gemma 3 template's
 * render of a conversation with one "<start_of_image>" marker per image before the text
 * of its message, each marker then laid out as ue_session_eval_prompt (and so `unicorn
 * run --image`) does: "\n\n<start_of_image>" + the image's soft positions (-1 here, as in
 * ue_session_tokens) + "<end_of_image>\n\n". */
#ifndef UE_APP_CHAT_PROMPT_H
#define UE_APP_CHAT_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "app/chat_image.h"
#include "unicorn.h"

#define CHAT_IMAGE_MARKER "<start_of_image>"

/* A message of the conversation; a user message's images go before its text. */
typedef struct chat_message {
    const char *role; /* "user" or "assistant" */
    const char *content;
    chat_image *const *images;
    size_t n_images;
} chat_message;

/* Where an image's soft positions start in a sequence (img borrowed from the messages). */
typedef struct chat_image_at {
    size_t pos;
    chat_image *img;
} chat_image_at;

typedef struct chat_tokens {
    int32_t *v; /* -1 at soft positions */
    size_t n;
    chat_image_at *img; /* in position order */
    size_t n_img;
} chat_tokens;

typedef struct chat_prompter {
    ue_engine *e;  /* borrowed */
    size_t n_soft; /* positions per image (ue_engine_image_tokens) */
} chat_prompter;

void chat_tokens_free(chat_tokens *t);
/* Appends plain tokens (no image positions). */
ue_status chat_tokens_append(chat_tokens *t, const int32_t *v, size_t n, ue_error *err);

/* Tokenizes text (control tokens parsed) whose markers stand for imgs[0..n_imgs) in
 * order; the number of markers must equal n_imgs (with no images the text is tokenized
 * as it is). */
ue_status chat_prompt_tokens(const chat_prompter *p, const char *text, chat_image *const *imgs,
                             size_t n_imgs, chat_tokens *out, ue_error *err);

/* Renders system + msgs[0..n) (+ the user message extra, when not NULL) through the
 * template (the render starts with "<bos>") and tokenizes it; add_gen appends the model
 * turn opener. *text_out (when not NULL) gets the rendered text, markers unexpanded.
 * With vision (n_soft > 0) a marker that a text holds itself is rendered as the plain
 * text "<start_of_image >": only attached images become images. */
ue_status chat_prompt_render(const chat_prompter *p, const char *system, const chat_message *msgs,
                             size_t n, const chat_message *extra, int add_gen, char **text_out,
                             chat_tokens *out, ue_error *err);

#endif
