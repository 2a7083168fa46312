/* `unicorn chat` end to end with the real 270M model (greedy, short answers): driven
 * through a pseudo-terminal as a user would (line editing, Ctrl+C, slash commands), and
 * through a pipe. Checks that a second turn only reads its new tokens, /regen rewinds and
 * follows the seed, /save + /load restore the conversation, Ctrl+C keeps the partial
 * answer and the next turn continues after it, the context-full paths, and --help / the
 * UNICORN_<FLAG> environment defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pty_session.h"
#include "test_util.h"
#include "unicorn.h"

#define PROMPT "\033[1;32m>\033[0m "
#define STATS "\033[2mprompt: "
/* Generous: an ASan build on two cores runs the model about ten times slower. */
#define WAIT_S 120.0

static ue_engine *g_engine;
/* The terminal session of the running test, closed by teardown_pty even when a check
 * fails half way (cmocka leaves the test function by longjmp). */
static ue_pty g_pty;
static char g_dir[] = "/tmp/ue_test_chat_XXXXXX";

/* Tokens of text with control tokens parsed, as the chat's prompts are. */
static size_t count_tokens(const char *text) {
    size_t n = 0;
    ue_error err = {0};
    assert_int_equal(ue_tokenize(g_engine, text, strlen(text), 0, 1, NULL, 0, &n, &err), UE_OK);
    return n;
}

/* Tokens of the template's user turn with the model turn opener after it. */
static size_t user_turn_tokens(const char *text) {
    char buf[512];
    snprintf(buf, sizeof buf, "<start_of_turn>user\n%s<end_of_turn>\n<start_of_turn>model\n", text);
    return count_tokens(buf);
}

typedef struct turn {
    size_t prompt, gen, ctx, n_ctx;
    char answer[4096];
} turn;

/* Parses the stats line starting at out + at. */
static void parse_stats(const char *at, turn *t) {
    double r1, r2;
    int n = sscanf(at + strlen(STATS), "%zu tokens, %lf t/s | generation: %zu tokens, %lf t/s | context: %zu/%zu",
                   &t->prompt, &r1, &t->gen, &r2, &t->ctx, &t->n_ctx);
    if (n != 6) fail_msg("cannot parse the stats line: %.200s", at);
}

/* Types a line, waits for the answer's stats line and the next prompt; the answer is the
 * text between the echoed line and the stats line, without carriage returns. Keys typed
 * before libedit has the terminal may be echoed twice (by the terminal, then by libedit),
 * so the last echo counts. */
static turn say(ue_pty *p, const char *text) {
    turn t;
    memset(&t, 0, sizeof t);
    char line[600];
    snprintf(line, sizeof line, "%s\r", text);
    size_t from = p->len;
    ue_pty_expect_raw(p, WAIT_S);
    ue_pty_send(p, line);
    snprintf(line, sizeof line, "%s\r\n", text);
    size_t echo = ue_pty_expect(p, from, line, WAIT_S) + strlen(line);
    size_t stats = ue_pty_expect(p, echo, STATS, WAIT_S);
    ue_pty_expect(p, stats, PROMPT, WAIT_S);
    for (const char *e = p->out + echo; (e = strstr(e, line)) && (size_t)(e - p->out) < stats;)
        echo = (size_t)(e - p->out) + strlen(line), e += strlen(line);
    parse_stats(p->out + stats, &t);
    size_t k = 0;
    for (size_t i = echo; i < stats && k + 1 < sizeof t.answer; i++)
        if (p->out[i] != '\r') t.answer[k++] = p->out[i];
    t.answer[k] = '\0';
    return t;
}

/* Types a command and waits for `want` in its output, then for the next prompt. */
static void command(ue_pty *p, const char *cmd, const char *want) {
    char line[600];
    snprintf(line, sizeof line, "%s\r", cmd);
    size_t from = p->len;
    ue_pty_expect_raw(p, WAIT_S);
    ue_pty_send(p, line);
    size_t at = ue_pty_expect(p, from, want, WAIT_S);
    ue_pty_expect(p, at, PROMPT, WAIT_S);
}

static void start_chat(ue_pty *p, const char *const *extra) {
    const char *args[32] = {ue_test_unicorn_path(), "chat", "-m", ue_test_model_path(),
                            "--temp", "0", "-n", "8", "-s", "1"};
    size_t n = 10;
    for (size_t i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    ue_pty_start(p, (char *const *)args);
    ue_pty_expect(p, 0, PROMPT, WAIT_S);
}

static char *path_in_dir(const char *name) {
    static char paths[4][256];
    static int next;
    char *out = paths[next++ % 4];
    snprintf(out, 256, "%s/%s", g_dir, name);
    return out;
}

static char *read_text(const char *path) {
    size_t n;
    return ue_test_read_file(path, &n);
}

/* What the terminal showed of an answer: without carriage returns, the "^C" echo and
 * the newline printed after the answer; malloc'd. */
static char *shown_text(const char *s, size_t n) {
    char *out = malloc(n + 1);
    assert_non_null(out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') continue;
        if (s[i] == '^' && i + 1 < n && s[i + 1] == 'C') {
            i++;
            continue;
        }
        out[k++] = s[i];
    }
    if (k && out[k - 1] == '\n') k--;
    out[k] = '\0';
    return out;
}

/* The value of the first "content" member after the text `after` (json-c writes role,
 * then content), unescaped; malloc'd. Only the escapes json-c writes for text:
 * \" \\ \/ \n \t \r \b \f and \u00XX. */
static char *json_string_after(const char *json, const char *after) {
    const char *at = strstr(json, after);
    if (!at) fail_msg("no %s in:\n%s", after, json);
    at = strstr(at + strlen(after), "\"content\":\"");
    assert_non_null(at);
    at += strlen("\"content\":\"");
    char *out = malloc(strlen(at) + 1);
    assert_non_null(out);
    size_t k = 0;
    for (; *at && *at != '"'; at++) {
        if (*at != '\\') {
            out[k++] = *at;
            continue;
        }
        char e = *++at;
        if (e == 'n') out[k++] = '\n';
        else if (e == 't') out[k++] = '\t';
        else if (e == 'r') out[k++] = '\r';
        else if (e == 'b') out[k++] = '\b';
        else if (e == 'f') out[k++] = '\f';
        else if (e == 'u') {
            unsigned v = 0;
            assert_int_equal(sscanf(at + 1, "%4x", &v), 1);
            assert_true(v < 0x80);
            out[k++] = (char)v;
            at += 4;
        } else {
            out[k++] = e;
        }
    }
    out[k] = '\0';
    return out;
}

/* A conversation on a terminal: incremental turns, /regen, /save + /clear + /load, bad
 * commands, Ctrl+C during an answer and at the empty prompt. */
static void test_chat_terminal_conversation(void **state) {
    (void)state;
    ue_pty *p = &g_pty;
    start_chat(p, NULL);
    size_t at = ue_pty_expect(p, 0, "/help for commands", WAIT_S);
    (void)at;

    turn t1 = say(p, "Hello");
    assert_int_equal(t1.prompt, count_tokens("<bos>") + user_turn_tokens("Hello"));
    assert_true(t1.gen >= 1 && t1.gen <= 8);
    assert_int_equal(t1.ctx, t1.prompt + t1.gen);

    /* The second turn reads only its own tokens (plus at most "<end_of_turn>\n" to close
     * the first answer), after everything the first turn left in the context. */
    const char *q2 = "What is two plus two?";
    turn t2 = say(p, q2);
    size_t turn2 = user_turn_tokens(q2);
    assert_true(t2.prompt >= turn2 && t2.prompt <= turn2 + 2);
    assert_true(t2.ctx - t2.gen - t2.prompt >= t1.ctx - 1);
    command(p, "/show", "prompts read incrementally: 1, in full: 1");

    /* /regen rewinds to the answer's start: one token re-read. The seed is the base of
     * the answers' seeds: the same seed repeats an answer, another one changes it. */
    command(p, "/set temp 1.5", "temp = 1.5");
    command(p, "/set top-k 0", "top-k = 0");
    command(p, "/set top-p 1", "top-p = 1");
    command(p, "/set seed 11", "seed = 11");
    turn a = say(p, "/regen");
    assert_int_equal(a.prompt, 1);
    assert_int_equal(a.ctx, t2.ctx - t2.gen + a.gen);
    command(p, "/set seed 11", "seed = 11");
    turn a2 = say(p, "/regen");
    assert_string_equal(a.answer, a2.answer);
    int differs = 0;
    for (int seed = 12; seed < 16 && !differs; seed++) {
        char cmd[32], want[32];
        snprintf(cmd, sizeof cmd, "/set seed %d", seed);
        snprintf(want, sizeof want, "seed = %d", seed);
        command(p, cmd, want);
        turn b = say(p, "/regen");
        differs = strcmp(a.answer, b.answer) != 0;
    }
    assert_true(differs);
    command(p, "/set temp 0", "temp = 0");

    /* /save, /clear, /load: the same JSON again, and the loaded context ends exactly at
     * a turn boundary (the next turn reads only its own tokens). */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "/save %s", path_in_dir("a.json"));
    command(p, cmd, "saved 4 messages");
    command(p, "/clear", "conversation cleared");
    command(p, "/show", "context:  0/4096 tokens, 0 messages");
    snprintf(cmd, sizeof cmd, "/load %s", path_in_dir("a.json"));
    command(p, cmd, "loaded 4 messages");
    snprintf(cmd, sizeof cmd, "/save %s", path_in_dir("b.json"));
    command(p, cmd, "saved 4 messages");
    char *ja = read_text(path_in_dir("a.json")), *jb = read_text(path_in_dir("b.json"));
    assert_string_equal(ja, jb);
    assert_non_null(strstr(ja, "\"content\":\"What is two plus two?\""));
    assert_non_null(strstr(ja, "\"role\":\"assistant\""));
    free(ja);
    free(jb);
    turn t3 = say(p, "Thanks");
    assert_int_equal(t3.prompt, user_turn_tokens("Thanks"));

    /* Commands that only explain themselves. */
    command(p, "/foo", "unknown command '/foo'");
    command(p, "/help", "/regen");
    command(p, "/image cat.png", "give --mmproj FILE");
    command(p, "/set top-p 0", "expected a number in (0, 1]");
    command(p, "/set bogus 1", "unknown setting 'bogus'");

    /* Ctrl+C stops a long answer; the partial answer stays, exactly as shown, and the
     * next turn closes it with "<end_of_turn>\n" before its own tokens. */
    command(p, "/set n 2000", "n = 2000");
    size_t from = p->len;
    ue_pty_expect_raw(p, WAIT_S);
    ue_pty_send(p, "Tell me a very long story about a dragon.\r");
    size_t echo = ue_pty_expect(p, from, "dragon.\r\n", WAIT_S) + strlen("dragon.\r\n");
    ue_pty_expect_len(p, echo + 60, WAIT_S);
    ue_pty_send(p, "\x03");
    size_t stop = ue_pty_expect(p, echo, "| interrupted", WAIT_S);
    size_t stats = ue_pty_expect(p, echo, STATS, WAIT_S);
    turn cut;
    parse_stats(p->out + stats, &cut);
    char *shown = shown_text(p->out + echo, stats - echo);
    ue_pty_expect(p, stop, PROMPT, WAIT_S);
    command(p, "/set n 8", "n = 8");
    turn t4 = say(p, "Thanks again");
    assert_int_equal(t4.prompt, user_turn_tokens("Thanks again") + 2);
    assert_int_equal(t4.ctx - t4.gen - t4.prompt, cut.ctx);
    snprintf(cmd, sizeof cmd, "/save %s", path_in_dir("c.json"));
    command(p, cmd, "saved 10 messages");
    char *jc = read_text(path_in_dir("c.json"));
    char *kept = json_string_after(jc, "\"content\":\"Tell me a very long story about a dragon.\"");
    assert_true(strlen(kept) >= 20);
    assert_string_equal(kept, shown);
    free(kept);
    free(shown);
    free(jc);

    /* Ctrl+C at an empty prompt leaves. */
    ue_pty_expect_raw(p, WAIT_S);
    ue_pty_send(p, "\x03");
    assert_int_equal(ue_pty_wait(p, WAIT_S), 0);
    ue_pty_close(p);
}

/* A tiny context: the message that does not fit is refused with a clear line, /clear
 * makes room again, Ctrl+D leaves. */
static void test_chat_terminal_context_full(void **state) {
    (void)state;
    ue_pty *p = &g_pty;
    const char *extra[] = {"-c", "40", NULL};
    start_chat(p, extra);
    say(p, "Hello");
    turn t = say(p, "Hi");
    assert_true(t.ctx <= 40);
    command(p, "How are you today?", "context full:");
    assert_non_null(strstr(p->out, "--drop-oldest"));
    command(p, "/clear", "conversation cleared");
    turn again = say(p, "How are you today?");
    assert_int_equal(again.prompt, count_tokens("<bos>") + user_turn_tokens("How are you today?"));
    ue_pty_expect_raw(p, WAIT_S);
    ue_pty_send(p, "\x04");
    assert_int_equal(ue_pty_wait(p, WAIT_S), 0);
    ue_pty_close(p);
}

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

/* Runs a shell command line with stdout and stderr captured. */
static run_result run_shell(const char *cmdline) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s >'%s' 2>'%s' </dev/null", cmdline, path_in_dir("out.txt"),
             path_in_dir("err.txt"));
    if (strstr(cmdline, "| ")) /* stdin comes from the pipe */
        snprintf(cmd, sizeof cmd, "%s >'%s' 2>'%s'", cmdline, path_in_dir("out.txt"),
                 path_in_dir("err.txt"));
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    run_result r = {WEXITSTATUS(st), read_text(path_in_dir("out.txt")),
                    read_text(path_in_dir("err.txt"))};
    return r;
}

static size_t count_of(const char *text, const char *what) {
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what)) n++;
    return n;
}

/* Piped stdin: one message per line or """ block, answers on stdout, no prompts, colours
 * or progress bar; an unknown command prints the help. */
static void test_chat_piped(void **state) {
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'Hello\\n\"\"\"\\nline one\\nline two\\n\"\"\"\\n/foo\\n' | '%s' chat -m '%s' "
             "--temp 0 -n 4 -s 1",
             ue_test_unicorn_path(), ue_test_model_path());
    run_result r = run_shell(cmd);
    assert_int_equal(r.status, 0);
    assert_null(strchr(r.out, '\033'));
    assert_null(strchr(r.err, '\033'));
    assert_null(strstr(r.out, "> "));
    assert_null(strstr(r.err, "loading"));
    assert_int_equal(count_of(r.err, "prompt: "), 2);
    assert_non_null(strstr(r.err, "unknown command '/foo'"));
    assert_non_null(strstr(r.out, "commands:"));
    free(r.out);
    free(r.err);
}

/* --drop-oldest: a conversation longer than the context keeps going. */
static void test_chat_drop_oldest(void **state) {
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'Hello\\nHow are you?\\nThird message\\nFourth message\\n' | '%s' chat "
             "-m '%s' --temp 0 -n 8 -s 1 -c 56 --drop-oldest",
             ue_test_unicorn_path(), ue_test_model_path());
    run_result r = run_shell(cmd);
    assert_int_equal(r.status, 0);
    assert_int_equal(count_of(r.err, "prompt: "), 4);
    assert_non_null(strstr(r.err, "dropped the"));
    assert_null(strstr(r.err, "context full"));
    free(r.out);
    free(r.err);
}

/* --help names every flag; UNICORN_<FLAG> sets defaults, the command line wins, a bad
 * environment value names its variable; run's sampling ranges are the sampler's. */
static void test_chat_help_and_environment(void **state) {
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' chat --help", ue_test_unicorn_path());
    run_result r = run_shell(cmd);
    assert_int_equal(r.status, 0);
    static const char *const flags[] = {"--model", "--system", "--n-predict", "--ctx-size",
                                        "--threads", "--device", "--drop-oldest", "--no-color",
                                        "--temp", "--top-k", "--top-p", "--min-p",
                                        "--repeat-penalty", "--repeat-last-n",
                                        "--presence-penalty", "--frequency-penalty", "--seed",
                                        "UNICORN_", "/help"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(r.out, flags[i])) fail_msg("chat --help lacks %s:\n%s", flags[i], r.out);
    free(r.out);
    free(r.err);

    snprintf(cmd, sizeof cmd,
             "printf 'Hello\\n' | UNICORN_N_PREDICT=5 UNICORN_TEMP=0 '%s' chat -m '%s' -n 3",
             ue_test_unicorn_path(), ue_test_model_path());
    r = run_shell(cmd);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "generation: 3 tokens"));
    free(r.out);
    free(r.err);

    snprintf(cmd, sizeof cmd, "UNICORN_TOP_P=0 '%s' chat -m '%s'", ue_test_unicorn_path(),
             ue_test_model_path());
    r = run_shell(cmd);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "UNICORN_TOP_P"));
    free(r.out);
    free(r.err);

    snprintf(cmd, sizeof cmd, "'%s' run -p hi --min-p 1", ue_test_unicorn_path());
    r = run_shell(cmd);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "[0, 1)"));
    free(r.out);
    free(r.err);
}

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(g_dir)) return -1;
    ue_engine_params ep;
    ue_engine_params_init(&ep);
    ep.model_path = ue_test_model_path();
    ep.n_threads = 1;
    ue_error err = {0};
    if (ue_engine_create(&ep, &g_engine, &err) != UE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown_pty(void **state) {
    (void)state;
    ue_pty_close(&g_pty);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ue_engine_destroy(g_engine);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    ue_test_model_path(); /* skips the whole file without the model */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chat_terminal_conversation, teardown_pty),
        cmocka_unit_test_teardown(test_chat_terminal_context_full, teardown_pty),
        cmocka_unit_test(test_chat_piped),
        cmocka_unit_test(test_chat_drop_oldest),
        cmocka_unit_test(test_chat_help_and_environment),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
