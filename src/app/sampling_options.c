/* Sampling option table (see sampling_options.h). Ranges mirror the checks in
 * src/model/sampler.c (check_params); upper bounds on the penalties and temperature only
 * keep values sensible. */
#include "app/sampling_options.h"

#include <time.h>
#include <unistd.h>

void app_sampling_options(ue_sampler_params *sp, app_option out[APP_SAMPLING_N_OPTIONS]) {
    const app_option table[APP_SAMPLING_N_OPTIONS] = {
        {NULL, "--temp", APP_OPT_FLOAT, &sp->temperature, 0, 100, "T",
         "temperature, 0 = greedy (default 1.0)"},
        {NULL, "--top-k", APP_OPT_INT, &sp->top_k, 0, 1 << 30, "K",
         "top-k sampling, 0 = off (default 64)"},
        {NULL, "--top-p", APP_OPT_FLOAT_OPEN_MIN, &sp->top_p, 0, 1, "P",
         "top-p sampling in (0, 1], 1 = off (default 0.95)"},
        {NULL, "--min-p", APP_OPT_FLOAT_OPEN_MAX, &sp->min_p, 0, 1, "P",
         "min-p sampling in [0, 1), 0 = off (default 0)"},
        {NULL, "--repeat-penalty", APP_OPT_FLOAT_OPEN_MIN, &sp->repeat_penalty, 0, 100, "X",
         "repetition penalty in (0, 100], 1 = off (default 1)"},
        {NULL, "--repeat-last-n", APP_OPT_INT, &sp->repeat_last_n, -1, 1 << 20, "N",
         "tokens the penalties look at, -1 = all, 0 = off (default 64)"},
        {NULL, "--presence-penalty", APP_OPT_FLOAT, &sp->presence_penalty, -100, 100, "X",
         "presence penalty in [-100, 100] (default 0)"},
        {NULL, "--frequency-penalty", APP_OPT_FLOAT, &sp->frequency_penalty, -100, 100, "X",
         "frequency penalty in [-100, 100] (default 0)"},
        {"-s", "--seed", APP_OPT_U64, &sp->seed, 0, 0, "N",
         "random seed, -1 = random (default -1)"},
    };
    for (int i = 0; i < APP_SAMPLING_N_OPTIONS; i++) out[i] = table[i];
}

uint64_t app_random_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32);
}
