/* Loading progress bar (see progress.h). One line, redrawn in place with '\r'; erased with
 * spaces rather than an escape sequence so that it also works on a dumb terminal. */
#include "app/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { BAR_WIDTH = 30, LINE_WIDTH = 78 };

void app_progress_init(app_progress *p, const char *label) {
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO);
    p->last_permil = -1;
    const char *base = label ? strrchr(label, '/') : NULL;
    p->label = base ? base + 1 : (label ? label : "model");
}

void app_progress_finish(app_progress *p) {
    if (!p->shown) return;
    fprintf(stderr, "\r%*s\r", LINE_WIDTH, "");
    fflush(stderr);
    p->shown = 0;
}

void app_progress_update(float fraction, void *user) {
    app_progress *p = user;
    if (!p->enabled) return;
    if (!(fraction < 1.0f)) {
        app_progress_finish(p);
        return;
    }
    if (fraction < 0.0f) fraction = 0.0f;
    int permil = (int)(fraction * 1000.0f);
    if (permil / 10 == p->last_permil / 10 && p->shown) return;
    p->last_permil = permil;
    char bar[BAR_WIDTH + 1];
    int fill = permil * BAR_WIDTH / 1000;
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\rloading %.36s [%s] %3d%%", p->label, bar, permil / 10);
    fflush(stderr);
    p->shown = 1;
}
