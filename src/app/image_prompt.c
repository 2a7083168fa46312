/* Command-line image input (see image_prompt.h). */
#include "app/image_prompt.h"

#include <string.h>

#include "core/error.h"

ue_status app_load_images(const char *const *paths, int n, ue_image **out, ue_error *err) {
    for (int i = 0; i < n; i++) {
        ue_status st = ue_image_load_file(paths[i], &out[i], err);
        if (st != UE_OK) {
            while (i-- > 0) ue_image_destroy(out[i]);
            return st;
        }
    }
    return UE_OK;
}

ue_status app_need_vision(const ue_engine *e, const char *model_path, ue_error *err) {
    if (ue_engine_has_vision(e)) return UE_OK;
    return ue_fail(err, UE_ERR_ARGUMENT,
                   "images need the vision projector, which %s does not contain: give "
                   "--mmproj FILE (the mmproj GGUF made for this model, e.g. "
                   "mmproj-model-f16.gguf next to it)", model_path);
}

ue_status app_eval_image_prompt(ue_session *s, const char *text, int add_bos,
                                ue_image *const *images, int n_images, int pan_scan,
                                ue_sampler *sampler, volatile int *cancel,
                                app_gen_stats *stats, ue_error *err) {
    ue_eval_options opt = {.cancel = cancel};
    size_t before = ue_session_n_past(s);
    double t0 = app_now_seconds();
    ue_status st = ue_session_eval_prompt(s, text, strlen(text), add_bos,
                                          (const ue_image *const *)images, (size_t)n_images,
                                          pan_scan, &opt, err);
    stats->prompt_seconds += app_now_seconds() - t0;
    if (st != UE_OK) return st;
    size_t after = ue_session_n_past(s);
    const int32_t *toks = ue_session_tokens(s);
    stats->n_prompt += after - before;
    for (size_t i = before; i < after; i++)
        if (toks[i] >= 0) ue_sampler_accept(sampler, toks[i]);
    return UE_OK;
}
