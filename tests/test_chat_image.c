/* `unicorn chat` with images, end to end on the tiny vision fixture model
 * (tests/fixtures/vision, tools/make_vision_fixtures.py: 16 soft tokens per image), driven
 * through piped stdin. Checks the image turn's prompt count against the layout of
 * ue_session_eval_prompt ("\n\n<start_of_image>" + soft tokens + "<end_of_image>\n\n"),
 * that the greedy answer equals `unicorn run --image`'s, that the next turn, /regen and an
 * unchanged /system read only new tokens, /image's errors (no projector, missing file),
 * /save + /load with an image (and with the file gone or no projector), and
 * --drop-oldest dropping an image turn. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "unicorn.h"

#define DIR "tests/fixtures/vision/"
#define MODEL DIR "tiny_vl.gguf"
#define MMPROJ DIR "tiny_mmproj.gguf"

static ue_engine *g_engine; /* the tiny model with its projector */
static size_t g_soft;       /* soft tokens per image */
static char g_dir[] = "/tmp/ue_test_chat_image_XXXXXX";

static char *path_in_dir(const char *name) {
    static char paths[4][256];
    static int next;
    char *out = paths[next++ % 4];
    snprintf(out, 256, "%s/%s", g_dir, name);
    return out;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path) {
    size_t n;
    return ue_test_read_file(path, &n);
}

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

static void free_result(run_result *r) {
    free(r->out);
    free(r->err);
}

/* Runs `unicorn ARGS` with input as stdin; captures stdout and stderr. */
static run_result run_unicorn(const char *args, const char *input) {
    write_text(path_in_dir("in.txt"), input);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s <'%s' >'%s' 2>'%s'", ue_test_unicorn_path(), args,
             path_in_dir("in.txt"), path_in_dir("out.txt"), path_in_dir("err.txt"));
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    run_result r = {WEXITSTATUS(st), read_text(path_in_dir("out.txt")),
                    read_text(path_in_dir("err.txt"))};
    return r;
}

/* A piped chat with the tiny model: greedy, 4 tokens per answer, seed 1. */
static run_result chat(const char *extra_args, const char *input) {
    char args[1024];
    snprintf(args, sizeof args, "chat -m " MODEL " --temp 0 -n 4 -s 1 %s", extra_args);
    return run_unicorn(args, input);
}

typedef struct stats {
    size_t prompt, gen, ctx, n_ctx;
} stats;

/* The k-th stats line of a chat's stderr. */
static stats stats_line(const char *err, int k) {
    const char *at = err;
    for (int i = 0; i <= k; i++) {
        at = strstr(i ? at + 1 : at, "prompt: ");
        if (!at) fail_msg("no stats line %d in:\n%s", k, err);
    }
    stats s;
    double r1, r2;
    if (sscanf(at, "prompt: %zu tokens, %lf t/s | generation: %zu tokens, %lf t/s | context: %zu/%zu",
               &s.prompt, &r1, &s.gen, &r2, &s.ctx, &s.n_ctx) != 6)
        fail_msg("cannot parse the stats line: %.200s", at);
    return s;
}

static size_t count_of(const char *text, const char *what) {
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what)) n++;
    return n;
}

/* The number after `key` in text (e.g. "context: " in a note). */
static size_t number_after(const char *text, const char *key) {
    const char *at = strstr(text, key);
    if (!at) fail_msg("no '%s' in:\n%s", key, text);
    return strtoul(at + strlen(key), NULL, 10);
}

static size_t count_tokens(const char *text) {
    size_t n = 0;
    ue_error err = {0};
    assert_int_equal(ue_tokenize(g_engine, text, strlen(text), 0, 1, NULL, 0, &n, &err), UE_OK);
    return n;
}

static size_t user_turn_tokens(const char *text) {
    char buf[512];
    snprintf(buf, sizeof buf, "<start_of_turn>user\n%s<end_of_turn>\n<start_of_turn>model\n", text);
    return count_tokens(buf);
}

/* Positions of a first user turn (with <bos> and the model opener) whose content is
 * n_images markers then text, evaluated by ue_session_eval_prompt as `run` does. */
static size_t eval_prompt_positions(const char *text, const char *const *images, size_t n_images) {
    char content[512] = "";
    for (size_t i = 0; i < n_images; i++) strcat(content, "<start_of_image>");
    strcat(content, text);
    ue_chat_message msg = {"user", content};
    char *rendered = NULL;
    ue_error err = {0};
    assert_int_equal(ue_chat_render(&msg, 1, 1, &rendered, &err), UE_OK);
    ue_image *imgs[4];
    for (size_t i = 0; i < n_images; i++)
        if (ue_image_load_file(images[i], &imgs[i], &err) != UE_OK) fail_msg("%s", err.msg);
    ue_session *s = NULL;
    ue_session_params sp;
    ue_session_params_init(&sp);
    sp.n_ctx = 512;
    assert_int_equal(ue_session_create(g_engine, &sp, &s, &err), UE_OK);
    if (ue_session_eval_prompt(s, rendered, strlen(rendered), 0, (const ue_image *const *)imgs,
                               n_images, 0, NULL, &err) != UE_OK)
        fail_msg("eval_prompt: %s", err.msg);
    size_t n = ue_session_n_past(s);
    ue_session_destroy(s);
    for (size_t i = 0; i < n_images; i++) ue_image_destroy(imgs[i]);
    free(rendered);
    return n;
}

/* An image turn reads the image's soft tokens and markers; the next turn, /regen and a
 * /system that changes nothing read only new tokens; /show lists the image waiting. */
static void test_image_turn_then_text_turns(void **state) {
    (void)state;
    run_result r = chat("--mmproj " MMPROJ,
                        "/image " DIR "img_a.png\n/show\nDescribe this.\nWhat else?\n/regen\n"
                        "/system Be brief.\n/system Be brief.\n/show\n");
    assert_int_equal(r.status, 0);
    assert_int_equal(count_of(r.err, "prompt: "), 3);
    char abs[PATH_MAX];
    assert_non_null(realpath(DIR "img_a.png", abs));
    assert_non_null(strstr(r.err, "attached to your next message (1 waiting)"));
    assert_non_null(strstr(r.out, "images:   0 in the conversation, 1 for the next message:"));
    assert_non_null(strstr(r.out, abs));
    assert_non_null(strstr(r.out, "images:   1 in the conversation, 0 for the next message"));

    /* The image turn: exactly what ue_session_eval_prompt lays out, which is the text
     * with "\n\n<start_of_image><end_of_image>\n\n" for the marker plus the soft tokens. */
    stats t1 = stats_line(r.err, 0);
    const char *img_a = DIR "img_a.png";
    assert_int_equal(t1.prompt, eval_prompt_positions("Describe this.", &img_a, 1));
    assert_int_equal(t1.prompt,
                     count_tokens("<bos><start_of_turn>user\n\n\n<start_of_image><end_of_image>"
                                  "\n\nDescribe this.<end_of_turn>\n<start_of_turn>model\n") +
                         g_soft);
    assert_int_equal(t1.ctx, t1.prompt + t1.gen);

    /* The next turn reads its own tokens (plus at most "<end_of_turn>\n" closing the
     * answer), after everything the image turn left in the context. */
    stats t2 = stats_line(r.err, 1);
    size_t turn2 = user_turn_tokens("What else?");
    assert_true(t2.prompt >= turn2 && t2.prompt <= turn2 + 2);
    assert_true(t2.ctx - t2.gen - t2.prompt >= t1.ctx - 1);

    /* /regen re-reads one token. */
    stats rg = stats_line(r.err, 2);
    assert_int_equal(rg.prompt, 1);
    assert_int_equal(rg.ctx, t2.ctx - t2.gen + rg.gen);

    /* A new system prompt changes the first turn: everything is re-read, the image's
     * positions too (from its kept embeddings). The same prompt again re-reads one token:
     * the context's image positions are recognised as the same image. */
    const char *first = strstr(r.err, "system prompt set");
    assert_non_null(first);
    const char *second = strstr(first + 1, "system prompt set");
    assert_non_null(second);
    assert_true(number_after(first, ", ") >= g_soft + turn2);
    assert_int_equal(number_after(second, ", "), 1);
    free_result(&r);
}

/* Two images given with --image: the chat's greedy answer and prompt size are those of
 * `unicorn run` with the same images and text. */
static void test_image_flag_matches_run(void **state) {
    (void)state;
    const char *imgs = "--mmproj " MMPROJ " --image " DIR "img_a.png --image " DIR "img_b.jpg";
    char args[1024];
    snprintf(args, sizeof args, "chat -m " MODEL " --temp 0 -n 24 -s 1 %s", imgs);
    run_result c = run_unicorn(args, "Tell me\n");
    snprintf(args, sizeof args, "run -m " MODEL " --temp 0 -n 24 -s 1 %s -p 'Tell me'", imgs);
    run_result r = run_unicorn(args, "");
    assert_int_equal(c.status, 0);
    assert_int_equal(r.status, 0);
    const char *both[] = {DIR "img_a.png", DIR "img_b.jpg"};
    stats cs = stats_line(c.err, 0);
    assert_int_equal(cs.prompt, eval_prompt_positions("Tell me", both, 2));
    assert_int_equal(cs.prompt, number_after(r.err, "prompt: "));
    assert_int_equal(cs.gen, 24);
    assert_true(strlen(c.out) > 1);
    assert_string_equal(c.out, r.out);
    free_result(&c);
    free_result(&r);
}

/* /image without a projector or with a missing file explains itself, attaches nothing,
 * and the chat goes on; --image without --mmproj stops at the start. */
static void test_image_errors(void **state) {
    (void)state;
    size_t hello = count_tokens("<bos>") + user_turn_tokens("Hello");
    run_result r = chat("", "/image " DIR "img_a.png\nHello\n");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "--mmproj FILE"));
    assert_non_null(strstr(r.err, "no image was attached"));
    assert_int_equal(count_of(r.err, "prompt: "), 1);
    assert_int_equal(stats_line(r.err, 0).prompt, hello);
    free_result(&r);

    r = chat("--mmproj " MMPROJ, "/image " DIR "missing.png\n/image\nHello\n");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, DIR "missing.png: cannot open: No such file"));
    assert_non_null(strstr(r.err, "/image: expected a file name"));
    assert_int_equal(count_of(r.err, "prompt: "), 1);
    assert_int_equal(stats_line(r.err, 0).prompt, hello);
    free_result(&r);

    r = chat("--image " DIR "img_a.png", "Hello\n");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--mmproj FILE"));
    free_result(&r);

    r = run_unicorn("chat --help", "");
    assert_int_equal(r.status, 0);
    static const char *const words[] = {"--mmproj", "--image", "/image", "pan-and-scan",
                                        "/load reads the files again"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strstr(r.out, words[i])) fail_msg("chat --help lacks %s:\n%s", words[i], r.out);
    free_result(&r);
}

/* A marker typed in a message is text, not an image. */
static void test_typed_marker_is_text(void **state) {
    (void)state;
    run_result r = chat("--mmproj " MMPROJ, "/image " DIR "img_a.png\nLook <start_of_image> here\n");
    assert_int_equal(r.status, 0);
    const char *img_a = DIR "img_a.png";
    assert_int_equal(stats_line(r.err, 0).prompt,
                     eval_prompt_positions("Look <start_of_image > here", &img_a, 1));
    free_result(&r);
}

/* /save writes the image's absolute path; /load reads the file again and the next turn
 * is incremental; a file gone or no projector gives a clear error and the chat goes on. */
static void test_image_save_load(void **state) {
    (void)state;
    size_t n;
    void *png = ue_test_read_file(DIR "img_a.png", &n);
    FILE *f = fopen(path_in_dir("cat.png"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(png, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(png);
    char abs[PATH_MAX], input[1024];
    assert_non_null(realpath(path_in_dir("cat.png"), abs));
    char json_path[256];
    snprintf(json_path, sizeof json_path, "%s", path_in_dir("s.json"));

    snprintf(input, sizeof input, "/image %s\nDescribe this.\n/save %s\n", path_in_dir("cat.png"),
             json_path);
    run_result r = chat("--mmproj " MMPROJ, input);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "saved 2 messages"));
    size_t first_ctx = stats_line(r.err, 0).ctx;
    free_result(&r);
    char *json = read_text(json_path);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "\"%s\"", abs);
    const char *images = strstr(json, "\"images\":[");
    if (!images || !strstr(images, want)) fail_msg("no images: [%s] in:\n%s", want, json);
    free(json);

    /* Loaded again: the image is in the context (its soft positions re-read) and the next
     * turn reads only its own tokens after the loaded conversation. */
    snprintf(input, sizeof input, "/load %s\n/show\nAnd then?\n", json_path);
    r = chat("--mmproj " MMPROJ, input);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "loaded 2 messages"));
    assert_non_null(strstr(r.out, "images:   1 in the conversation"));
    size_t loaded = number_after(r.err, "(context: ");
    assert_true(loaded >= first_ctx - 4 && loaded > g_soft);
    stats t = stats_line(r.err, 0);
    assert_int_equal(t.prompt, user_turn_tokens("And then?"));
    assert_int_equal(t.ctx - t.gen - t.prompt, loaded);
    free_result(&r);

    /* No projector: the file's images cannot be read back. */
    snprintf(input, sizeof input, "/load %s\nHi\n", json_path);
    r = chat("", input);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "has images"));
    assert_non_null(strstr(r.err, "--mmproj FILE"));
    assert_int_equal(stats_line(r.err, 0).prompt, count_tokens("<bos>") + user_turn_tokens("Hi"));
    free_result(&r);

    /* The image file is gone: the error names it, the conversation stays as it was. */
    assert_int_equal(unlink(path_in_dir("cat.png")), 0);
    snprintf(input, sizeof input, "Hello\n/load %s\n/show\nHi\n", json_path);
    r = chat("--mmproj " MMPROJ, input);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof want, "message 1, image 1: %s: cannot open", abs);
    if (!strstr(r.err, want)) fail_msg("no '%s' in:\n%s", want, r.err);
    assert_null(strstr(r.err, "loaded "));
    assert_non_null(strstr(r.out, "images:   0 in the conversation"));
    stats hello = stats_line(r.err, 0), hi = stats_line(r.err, 1);
    size_t turn = user_turn_tokens("Hi");
    assert_true(hi.prompt >= turn && hi.prompt <= turn + 2);
    assert_true(hi.ctx - hi.gen - hi.prompt >= hello.ctx - 1);
    free_result(&r);
}

/* --drop-oldest: a context too small for many turns drops the image turn and goes on. */
static void test_image_drop_oldest(void **state) {
    (void)state;
    run_result r = chat("--mmproj " MMPROJ " -c 100 --drop-oldest",
                        "/image " DIR "img_a.png\nDescribe this.\nSecond message\n"
                        "Third message\nFourth message\n/show\n");
    assert_int_equal(r.status, 0);
    assert_int_equal(count_of(r.err, "prompt: "), 4);
    assert_non_null(strstr(r.err, "dropped the"));
    assert_null(strstr(r.err, "context full"));
    for (int k = 0; k < 4; k++) assert_true(stats_line(r.err, k).ctx <= 100);
    assert_non_null(strstr(r.out, "images:   0 in the conversation"));
    free_result(&r);
}

static int setup(void **state) {
    (void)state;
    if (!mkdtemp(g_dir)) return -1;
    ue_engine_params ep;
    ue_engine_params_init(&ep);
    ep.model_path = MODEL;
    ep.mmproj_path = MMPROJ;
    ep.n_threads = 1;
    ue_error err = {0};
    if (ue_engine_create(&ep, &g_engine, &err) != UE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    g_soft = (size_t)ue_engine_image_tokens(g_engine);
    return g_soft > 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ue_engine_destroy(g_engine);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_turn_then_text_turns),
        cmocka_unit_test(test_image_flag_matches_run),
        cmocka_unit_test(test_image_errors),
        cmocka_unit_test(test_typed_marker_is_text),
        cmocka_unit_test(test_image_save_load),
        cmocka_unit_test(test_image_drop_oldest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
