/* Gemma 3 instruct chat template, rendered in C with the semantics of the HF jinja template
 * shipped with google/gemma-3-*-it (tokenizer_config.json "chat_template"); summary in
 * shared/docs/gemma3.md section 3. tools/make_chat_template_fixture.py renders the real
 * jinja template to check this file against (tests/test_chat_template.c). Where the jinja
 * template fails or loses text (no messages, a lone system message, odd roles), see
 * check_messages and ue_chat_render. */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "unicorn.h"

#define BOS "<bos>"
#define TURN_START "<start_of_turn>"
#define TURN_END "<end_of_turn>\n"
#define SYSTEM_SEP "\n\n"

/* Byte length of the whitespace character that starts at s (n bytes left), 0 if none.
 * "Whitespace" is Python's str.isspace(), which jinja's `trim` filter (str.strip) uses:
 * \t \n \v \f \r, \x1c-\x1f, space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000. */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3) {
        if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
        if (s[0] == 0xe2 && s[1] == 0x80 &&
            ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
            return 3; /* U+2000-200A, U+2028, U+2029, U+202F */
        if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
        if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    }
    return 0;
}

/* Byte length of the whitespace character that ends at s + n, 0 if none. A UTF-8
 * continuation byte cannot start a character, so checking the 1-, 2- and 3-byte
 * candidates that end exactly at s + n is unambiguous. */
static size_t space_len_back(const unsigned char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_len(s + n - k, k) == k) return k;
    return 0;
}

/* The content with leading and trailing whitespace removed, as jinja's `| trim`. */
static void trim(const char *text, const char **start, size_t *len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), k;
    while ((k = space_len(s, n)) > 0) {
        s += k;
        n -= k;
    }
    while ((k = space_len_back(s, n)) > 0) n -= k;
    *start = (const char *)s;
    *len = n;
}

typedef enum role { ROLE_SYSTEM, ROLE_USER, ROLE_MODEL, ROLE_UNKNOWN } role;

static role parse_role(const char *name) {
    if (strcmp(name, "user") == 0) return ROLE_USER;
    if (strcmp(name, "assistant") == 0 || strcmp(name, "model") == 0) return ROLE_MODEL;
    if (strcmp(name, "system") == 0) return ROLE_SYSTEM;
    return ROLE_UNKNOWN;
}

/* Checks roles: an optional system message first, then user, model, user, ... The HF
 * template raises on a broken alternation too; it passes unknown roles and a later system
 * message through as turn names at odd positions, which the model was never trained on,
 * so those are errors here. A system message with nothing after it is an error as well:
 * the HF template would silently drop its text (it only reaches the prompt through the
 * first user turn). */
static ue_status check_messages(const ue_chat_message *msgs, size_t n, size_t first,
                                ue_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role)
            return ue_fail(err, UE_ERR_ARGUMENT, "chat message %zu: role is NULL", i);
        if (!msgs[i].content)
            return ue_fail(err, UE_ERR_ARGUMENT, "chat message %zu (%.32s): content is NULL",
                           i, msgs[i].role);
        role r = parse_role(msgs[i].role);
        if (r == ROLE_UNKNOWN)
            return ue_fail(err, UE_ERR_ARGUMENT,
                           "chat message %zu: unknown role \"%.32s\" (expected system, user, "
                           "assistant or model)",
                           i, msgs[i].role);
        if (i < first) continue;
        if (r == ROLE_SYSTEM)
            return ue_fail(err, UE_ERR_ARGUMENT,
                           "chat message %zu: a system message is only allowed first", i);
        role want = (i - first) % 2 == 0 ? ROLE_USER : ROLE_MODEL;
        if (r != want)
            return ue_fail(err, UE_ERR_ARGUMENT,
                           "chat message %zu: expected role %s, got \"%.32s\" (after an optional "
                           "system message, roles alternate user/model starting with user)",
                           i, want == ROLE_USER ? "user" : "assistant/model", msgs[i].role);
    }
    if (first == 1 && n == 1)
        return ue_fail(err, UE_ERR_ARGUMENT,
                       "chat message 0: a system message needs a user message after it");
    return UE_OK;
}

/* Output being built: counts bytes when buf is NULL, else copies into a buffer the
 * counting pass sized. overflow is set when the length does not fit in size_t. */
typedef struct sink {
    char *buf;
    size_t pos;
    int overflow;
} sink;

static void put(sink *o, const char *s, size_t len) {
    size_t end;
    if (o->overflow || !ue_add_size(o->pos, len, &end)) {
        o->overflow = 1;
        return;
    }
    if (o->buf) memcpy(o->buf + o->pos, s, len);
    o->pos = end;
}

static void put_str(sink *o, const char *s) { put(o, s, strlen(s)); }

/* Renders the checked messages; first is 1 when messages[0] is the system message. */
static void render(const ue_chat_message *msgs, size_t n, size_t first, int add_gen, sink *o) {
    put_str(o, BOS);
    for (size_t i = first; i < n; i++) {
        const char *text;
        size_t text_len;
        trim(msgs[i].content, &text, &text_len);
        put_str(o, TURN_START);
        put_str(o, (i - first) % 2 == 0 ? "user\n" : "model\n");
        if (i == first && first == 1) {
            /* The system text goes in verbatim: the HF template does not trim it. */
            put_str(o, msgs[0].content);
            put_str(o, SYSTEM_SEP);
        }
        put(o, text, text_len);
        put_str(o, TURN_END);
    }
    if (add_gen) put_str(o, TURN_START "model\n");
}

ue_status ue_chat_render(const ue_chat_message *messages, size_t n_messages,
                         int add_generation_prompt, char **out, ue_error *err) {
    if (!out) return ue_fail(err, UE_ERR_ARGUMENT, "chat render: out pointer is NULL");
    *out = NULL;
    if (!messages && n_messages > 0)
        return ue_fail(err, UE_ERR_ARGUMENT, "chat render: messages is NULL but n_messages is %zu",
                       n_messages);
    /* No messages renders as "<bos>" (plus the model opener); the jinja template fails on
     * an empty list instead (messages[0] is undefined). */
    size_t first = 0;
    if (n_messages > 0 && messages[0].role && strcmp(messages[0].role, "system") == 0) first = 1;
    ue_status st = check_messages(messages, n_messages, first, err);
    if (st != UE_OK) return st;

    sink count = {NULL, 0, 0};
    render(messages, n_messages, first, add_generation_prompt, &count);
    size_t bytes;
    if (count.overflow || !ue_add_size(count.pos, 1, &bytes))
        return ue_fail(err, UE_ERR_ARGUMENT, "chat render: the conversation is too long");
    sink o = {malloc(bytes), 0, 0};
    if (!o.buf) return ue_fail(err, UE_ERR_NOMEM, "chat render: cannot allocate %zu bytes", bytes);
    render(messages, n_messages, first, add_generation_prompt, &o);
    o.buf[o.pos] = '\0';
    *out = o.buf;
    return UE_OK;
}
