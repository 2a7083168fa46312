/* Images on the command line (run --image, chat /image): loading them, and evaluating a
 * prompt whose "<start_of_image>" markers stand for them, timed as prompt processing. */
#ifndef UE_APP_IMAGE_PROMPT_H
#define UE_APP_IMAGE_PROMPT_H

#include "app/generate.h"
#include "unicorn.h"

/* Loads n image files into out[0..n) (all or none; ue_image_destroy each on success). */
ue_status app_load_images(const char *const *paths, int n, ue_image **out, ue_error *err);

/* Fails with the message naming the projector file when the engine has no vision. */
ue_status app_need_vision(const ue_engine *engine, const char *model_path, ue_error *err);

/* Evaluates text (markers expanded as ue_session_eval_prompt does) and records the
 * prompt's text tokens in the sampler's penalty history. */
ue_status app_eval_image_prompt(ue_session *session, const char *text, int add_bos,
                                ue_image *const *images, int n_images, int pan_scan,
                                ue_sampler *sampler, volatile int *cancel,
                                app_gen_stats *stats, ue_error *err);

#endif
