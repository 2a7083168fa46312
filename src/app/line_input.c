/* Message input (see line_input.h). Every read of stdin waits in poll() with a short
 * timeout and checks the interrupt flag first, so a Ctrl+C that lands just before a read
 * starts is not lost (a signal only interrupts a read already blocked in the kernel).
 * libedit gets its characters through the same wait (EL_GETCFN), decoded from the
 * locale's multibyte encoding; without libedit, lines are cut from raw reads of fd 0. */
#include "app/line_input.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#ifdef UE_HAVE_LIBEDIT
#include <histedit.h>
#endif

#define BLOCK_MARK "\"\"\""
#define PROMPT_COLOR "\033[1;32m"
#define COLOR_OFF "\033[0m"
/* How often a wait for input looks at the interrupt flag (ms). */
#define POLL_MS 100

struct line_input {
    int interactive, color;
    FILE *echo;         /* where prompts and the edited line go: stdout, or stderr when
                           stdout is redirected (so a transcript holds only answers) */
    volatile int *interrupted;
    const char *prompt; /* the prompt el_gets shows next */
    char *line;         /* the current line, NUL-terminated */
    size_t line_cap;
    char raw[4096];     /* bytes read from fd 0 but not used yet (no libedit) */
    size_t raw_pos, raw_len;
    int eof;
#ifdef UE_HAVE_LIBEDIT
    EditLine *el;
    History *hist;
#endif
};

/* Waits until stdin has input: 0, or -1 when the interrupt flag is set. */
static int wait_input(line_input *li) {
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    for (;;) {
        if (li->interrupted && *li->interrupted) return -1;
        int r = poll(&pfd, 1, POLL_MS);
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return 0; /* let the read report the error */
    }
}

static int set_line(line_input *li, const char *s, size_t n) {
    if (n + 1 > li->line_cap) {
        size_t cap = li->line_cap ? li->line_cap : 256;
        while (cap < n + 1) cap *= 2;
        char *bigger = realloc(li->line, cap);
        if (!bigger) return -1;
        li->line = bigger;
        li->line_cap = cap;
    }
    memmove(li->line, s, n);
    li->line[n] = '\0';
    return 0;
}

#ifdef UE_HAVE_LIBEDIT
/* '\1' brackets the colour escapes so that libedit does not count them as columns. */
static char *el_prompt(EditLine *el) {
    line_input *li = NULL;
    el_get(el, EL_CLIENTDATA, &li);
    return (char *)(li ? li->prompt : "");
}

/* libedit's character source: 1 with *wc set, 0 at end of input, -1 with errno EINTR
 * when interrupted. Bytes that are not valid in the locale's encoding pass through. */
static int edit_getc(EditLine *el, wchar_t *wc) {
    line_input *li = NULL;
    el_get(el, EL_CLIENTDATA, &li);
    mbstate_t state;
    memset(&state, 0, sizeof state);
    for (;;) {
        if (wait_input(li) < 0) {
            errno = EINTR;
            return -1;
        }
        char c;
        ssize_t got = read(STDIN_FILENO, &c, 1);
        if (got == 0) return 0;
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return -1;
        }
        size_t k = mbrtowc(wc, &c, 1, &state);
        if (k == (size_t)-2) continue; /* more bytes of this character to come */
        if (k == (size_t)-1) *wc = (wchar_t)(unsigned char)c;
        return 1;
    }
}

/* libedit decodes input with the locale's encoding: the C locale would drop every
 * non-ASCII character, so ask for the user's locale, else C.UTF-8. Only LC_CTYPE:
 * numbers keep printing with a '.'. */
static void use_utf8_ctype(void) {
    if (setlocale(LC_CTYPE, "") && strcmp(nl_langinfo(CODESET), "UTF-8") == 0) return;
    if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "C");
}
#endif

line_input *line_input_create(int interactive, int color, volatile int *interrupted) {
    line_input *li = calloc(1, sizeof *li);
    if (!li) return NULL;
    li->interactive = interactive;
    li->color = color;
    li->interrupted = interrupted;
    li->echo = isatty(STDOUT_FILENO) ? stdout : stderr;
    li->color = color && isatty(fileno(li->echo));
#ifdef UE_HAVE_LIBEDIT
    if (interactive) {
        use_utf8_ctype();
        li->el = el_init("unicorn", stdin, li->echo, stderr);
        li->hist = history_init();
        if (!li->el || !li->hist) {
            line_input_destroy(li);
            return NULL;
        }
        HistEvent ev;
        history(li->hist, &ev, H_SETSIZE, 1000);
        history(li->hist, &ev, H_SETUNIQUE, 1);
        el_set(li->el, EL_CLIENTDATA, li);
        el_set(li->el, EL_PROMPT_ESC, el_prompt, '\1');
        el_set(li->el, EL_EDITOR, "emacs");
        el_set(li->el, EL_HIST, history, li->hist);
        el_set(li->el, EL_GETCFN, edit_getc);
        el_source(li->el, NULL); /* the user's ~/.editrc, if any */
    }
#endif
    return li;
}

void line_input_destroy(line_input *li) {
    if (!li) return;
#ifdef UE_HAVE_LIBEDIT
    if (li->el) el_end(li->el);
    if (li->hist) history_end(li->hist);
#endif
    free(li->line);
    free(li);
}

/* A line from raw reads of fd 0 into li->line (no newline). */
static line_status read_plain(line_input *li, size_t *len) {
    size_t n = 0;
    for (;;) {
        while (li->raw_pos < li->raw_len) {
            char c = li->raw[li->raw_pos++];
            if (c == '\n') {
                *len = n;
                return LINE_OK;
            }
            if (n + 2 > li->line_cap) {
                size_t cap = li->line_cap ? li->line_cap * 2 : 256;
                char *bigger = realloc(li->line, cap);
                if (!bigger) return LINE_EOF;
                li->line = bigger;
                li->line_cap = cap;
            }
            li->line[n++] = c;
            li->line[n] = '\0';
        }
        if (li->eof || wait_input(li) < 0) {
            if (!li->eof) return LINE_INTERRUPT;
            *len = n;
            return n ? LINE_OK : LINE_EOF; /* a last line without a newline still counts */
        }
        ssize_t got = read(STDIN_FILENO, li->raw, sizeof li->raw);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) {
            li->eof = 1;
            continue;
        }
        li->raw_pos = 0;
        li->raw_len = (size_t)got;
    }
}

/* Reads one line without its newline into li->line. *typed says, on LINE_INTERRUPT,
 * whether the line had text. */
static line_status read_line(line_input *li, int continuation, size_t *len, int *typed) {
    *typed = 0;
    if (li->interrupted) *li->interrupted = 0;
#ifdef UE_HAVE_LIBEDIT
    if (li->el) {
        li->prompt = continuation ? (li->color ? "\1" PROMPT_COLOR "\1...\1" COLOR_OFF "\1 " : "... ")
                                  : (li->color ? "\1" PROMPT_COLOR "\1>\1" COLOR_OFF "\1 " : "> ");
        int count = 0;
        const char *line = el_gets(li->el, &count);
        if (!line) {
            if (li->interrupted && *li->interrupted) {
                const LineInfo *info = el_line(li->el);
                *typed = info && info->lastchar > info->buffer;
                el_reset(li->el);
                fputc('\n', li->echo);
                fflush(li->echo);
                return LINE_INTERRUPT;
            }
            fputc('\n', li->echo); /* leave the shell prompt on a line of its own */
            fflush(li->echo);
            return LINE_EOF;
        }
        size_t n = count > 0 ? (size_t)count : 0;
        if (set_line(li, line, n) != 0) return LINE_EOF;
        while (n && (li->line[n - 1] == '\n' || li->line[n - 1] == '\r')) li->line[--n] = '\0';
        if (n) {
            HistEvent ev;
            history(li->hist, &ev, H_ENTER, li->line);
        }
        *len = n;
        return LINE_OK;
    }
#endif
    if (li->interactive) {
        if (li->color) fputs(PROMPT_COLOR, li->echo);
        fputs(continuation ? "..." : ">", li->echo);
        if (li->color) fputs(COLOR_OFF, li->echo);
        fputc(' ', li->echo);
        fflush(li->echo);
    }
    if (set_line(li, "", 0) != 0) return LINE_EOF;
    line_status st = read_plain(li, len);
    if (st == LINE_INTERRUPT) {
        *typed = *len > 0;
        if (li->interactive) fputc('\n', li->echo);
        return st;
    }
    size_t n = *len;
    while (n && li->line[n - 1] == '\r') li->line[--n] = '\0';
    *len = n;
    return st;
}

/* Growing text buffer for a message. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void text_add(text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *bigger = realloc(t->s, cap);
        if (!bigger) {
            t->failed = 1;
            return;
        }
        t->s = bigger;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static int ends_with_mark(const char *s, size_t n) {
    return n >= 3 && memcmp(s + n - 3, BLOCK_MARK, 3) == 0;
}

line_status line_input_read(line_input *li, char **out, int *had_text) {
    *out = NULL;
    *had_text = 0;
    size_t len = 0;
    int typed = 0;
    line_status st = read_line(li, 0, &len, &typed);
    if (st != LINE_OK) {
        *had_text = typed;
        return st;
    }
    text t = {0};
    if (strncmp(li->line, BLOCK_MARK, 3) != 0) {
        text_add(&t, li->line, len);
    } else if (len > 6 && ends_with_mark(li->line, len)) {
        text_add(&t, li->line + 3, len - 6); /* """one line""" */
    } else {
        /* A block: the text after the opening mark, then lines up to one ending in it. */
        if (len > 3) text_add(&t, li->line + 3, len - 3);
        int first = len == 3;
        for (;;) {
            st = read_line(li, 1, &len, &typed);
            if (st == LINE_INTERRUPT) {
                free(t.s);
                *had_text = 1;
                return st;
            }
            if (st == LINE_EOF) break; /* an unclosed block at the end of input is sent */
            int last = ends_with_mark(li->line, len);
            size_t n = last ? len - 3 : len;
            if (last && n == 0) break;
            if (!first) text_add(&t, "\n", 1);
            text_add(&t, li->line, n);
            first = 0;
            if (last) break;
        }
    }
    if (!t.s) text_add(&t, "", 0);
    if (t.failed) {
        free(t.s);
        return LINE_EOF;
    }
    *out = t.s;
    return LINE_OK;
}
