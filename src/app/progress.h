/* A loading progress bar on stderr, for ue_engine_params.progress: drawn only when
 * stderr is a terminal, erased when loading finishes. */
#ifndef UE_APP_PROGRESS_H
#define UE_APP_PROGRESS_H

typedef struct app_progress {
    int enabled;     /* stderr is a terminal */
    int shown;       /* something is drawn on the line */
    int last_permil; /* last value drawn, to redraw only on change */
    const char *label;
} app_progress;

void app_progress_init(app_progress *p, const char *label);
/* The callback: user is the app_progress. fraction >= 1 erases the bar. */
void app_progress_update(float fraction, void *user);
/* Erases the bar if one is still drawn (loading failed part way). */
void app_progress_finish(app_progress *p);

#endif
