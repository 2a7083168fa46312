/* The sampling flags shared by `unicorn run` and `unicorn chat`: one table with the ranges
 * ue_sampler_create accepts, so the command line, UNICORN_<FLAG> and chat's /set check
 * values the same way. */
#ifndef UE_APP_SAMPLING_OPTIONS_H
#define UE_APP_SAMPLING_OPTIONS_H

#include "app/options.h"
#include "unicorn.h"

enum { APP_SAMPLING_N_OPTIONS = 9 };

/* Fills out[] with the sampling options writing into *sp (defaults: Gemma 3's, from
 * ue_sampler_params_init; the seed's "-1" stores UINT64_MAX, meaning random). */
void app_sampling_options(ue_sampler_params *sp, app_option out[APP_SAMPLING_N_OPTIONS]);

/* A seed for "-1": time and process id mixed. */
uint64_t app_random_seed(void);

#endif
