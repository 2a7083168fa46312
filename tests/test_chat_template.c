/* ue_chat_render: Gemma 3's instruct template. Exact strings written out here, renders of
 * the real HF jinja template (fixtures/chat_template/hf_renders.h, made by
 * tools/make_chat_template_fixture.py), and the cases where we deliberately differ. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "unicorn.h"

#include "fixtures/chat_template/hf_renders.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_render(const ue_chat_message *msgs, size_t n, int add_gen,
                          const char *want) {
    char *out = NULL;
    ue_error err = {0};
    ue_status st = ue_chat_render(msgs, n, add_gen, &out, &err);
    if (st != UE_OK) fail_msg("render failed: %s", err.msg);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

/* Expects an argument error whose message contains every given fragment. */
static void expect_error(const ue_chat_message *msgs, size_t n, const char *frag1,
                         const char *frag2) {
    char *out = (char *)"sentinel";
    ue_error err = {0};
    ue_status st = ue_chat_render(msgs, n, 1, &out, &err);
    assert_int_equal(st, UE_ERR_ARGUMENT);
    assert_null(out);
    assert_int_equal(err.code, UE_ERR_ARGUMENT);
    if (frag1 && !strstr(err.msg, frag1)) fail_msg("error \"%s\" lacks \"%s\"", err.msg, frag1);
    if (frag2 && !strstr(err.msg, frag2)) fail_msg("error \"%s\" lacks \"%s\"", err.msg, frag2);
}

static void test_single_user(void **state) {
    (void)state;
    ue_chat_message m[] = {{"user", "Hello"}};
    expect_render(m, 1, 1, "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n");
    expect_render(m, 1, 0, "<bos><start_of_turn>user\nHello<end_of_turn>\n");
}

static void test_system_user(void **state) {
    (void)state;
    ue_chat_message m[] = {{"system", "Be brief."}, {"user", "Hi"}};
    expect_render(m, 2, 1,
                  "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                  "<start_of_turn>model\n");
}

/* The rendered example of shared/docs/gemma3.md section 3, verbatim. */
static void test_gemma3_md_reference(void **state) {
    (void)state;
    ue_chat_message m[] = {
        {"system", "SYS"}, {"user", "Hello"}, {"assistant", "Hi"}, {"user", "More?"}};
    expect_render(m, N(m), 1,
                  "<bos><start_of_turn>user\nSYS\n\nHello<end_of_turn>\n<start_of_turn>model\n"
                  "Hi<end_of_turn>\n<start_of_turn>user\nMore?<end_of_turn>\n"
                  "<start_of_turn>model\n");
}

static void test_multi_turn_assistant_and_model_names(void **state) {
    (void)state;
    const char *want = "<bos><start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb"
                       "<end_of_turn>\n<start_of_turn>user\nc<end_of_turn>\n"
                       "<start_of_turn>model\nd<end_of_turn>\n";
    ue_chat_message as_assistant[] = {{"user", "a"}, {"assistant", "b"}, {"user", "c"},
                                      {"assistant", "d"}};
    ue_chat_message as_model[] = {{"user", "a"}, {"model", "b"}, {"user", "c"}, {"model", "d"}};
    ue_chat_message mixed[] = {{"user", "a"}, {"model", "b"}, {"user", "c"}, {"assistant", "d"}};
    expect_render(as_assistant, 4, 0, want);
    expect_render(as_model, 4, 0, want);
    expect_render(mixed, 4, 0, want);
}

static void test_trimming(void **state) {
    (void)state;
    ue_chat_message m[] = {{"user", "\n\t  two  words \r\n"}, {"assistant", "  x\n\ny  "}};
    expect_render(m, 2, 0,
                  "<bos><start_of_turn>user\ntwo  words<end_of_turn>\n"
                  "<start_of_turn>model\nx\n\ny<end_of_turn>\n");
    /* U+00A0 and U+3000 are whitespace to Python's strip; U+200B is not. */
    ue_chat_message u[] = {{"user", "\xc2\xa0\xe3\x80\x80q\xe2\x80\x8b\xc2\xa0"}};
    expect_render(u, 1, 0, "<bos><start_of_turn>user\nq\xe2\x80\x8b<end_of_turn>\n");
    /* Whitespace-only content becomes empty. */
    ue_chat_message w[] = {{"user", " \n "}};
    expect_render(w, 1, 0, "<bos><start_of_turn>user\n<end_of_turn>\n");
}

static void test_empty_conversation(void **state) {
    (void)state;
    /* HF's template fails on an empty list (messages[0] is undefined); we give <bos>. */
    expect_render(NULL, 0, 0, "<bos>");
    expect_render(NULL, 0, 1, "<bos><start_of_turn>model\n");
}

static void test_bad_alternation(void **state) {
    (void)state;
    ue_chat_message uu[] = {{"user", "a"}, {"user", "b"}};
    expect_error(uu, 2, "message 1", "expected role assistant/model");
    ue_chat_message model_first[] = {{"model", "a"}, {"user", "b"}};
    expect_error(model_first, 2, "message 0", "\"model\"");
    ue_chat_message sys_model[] = {{"system", "s"}, {"assistant", "a"}};
    expect_error(sys_model, 2, "message 1", "expected role user");
    ue_chat_message late[] = {{"user", "a"}, {"model", "b"}, {"assistant", "c"}};
    expect_error(late, 3, "message 2", "\"assistant\"");
}

static void test_system_placement(void **state) {
    (void)state;
    /* HF renders a later system message at an odd position as a "system" turn; ours errs. */
    ue_chat_message late_sys[] = {{"user", "a"}, {"system", "s"}};
    expect_error(late_sys, 2, "message 1", "system message is only allowed first");
    /* HF silently drops a lone system message; ours errs instead of losing its text. */
    ue_chat_message lone_sys[] = {{"system", "s"}};
    expect_error(lone_sys, 1, "message 0", "needs a user message");
}

static void test_unknown_role(void **state) {
    (void)state;
    ue_chat_message m[] = {{"user", "a"}, {"tool", "b"}};
    expect_error(m, 2, "message 1", "unknown role \"tool\"");
    ue_chat_message upper[] = {{"User", "a"}};
    expect_error(upper, 1, "message 0", "unknown role \"User\"");
}

static void test_null_arguments(void **state) {
    (void)state;
    ue_chat_message no_role[] = {{NULL, "a"}};
    expect_error(no_role, 1, "message 0", "role is NULL");
    ue_chat_message no_content[] = {{"user", "a"}, {"model", NULL}};
    expect_error(no_content, 2, "message 1", "content is NULL");
    expect_error(NULL, 2, "messages is NULL", NULL);
    ue_chat_message m[] = {{"user", "a"}};
    ue_error err = {0};
    assert_int_equal(ue_chat_render(m, 1, 0, NULL, &err), UE_ERR_ARGUMENT);
    assert_int_equal(ue_chat_render(m, 1, 0, NULL, NULL), UE_ERR_ARGUMENT);
}

static void test_matches_hf_jinja_renders(void **state) {
    (void)state;
    for (size_t i = 0; i < N(hf_cases); i++) {
        const hf_case *c = &hf_cases[i];
        char *out = NULL;
        ue_error err = {0};
        ue_status st = ue_chat_render(c->messages, c->n_messages, c->add_generation_prompt,
                                      &out, &err);
        if (!c->expect) {
            if (st != UE_ERR_ARGUMENT) fail_msg("%s: expected an error, got status %d", c->name, st);
            assert_null(out);
            continue;
        }
        if (st != UE_OK) fail_msg("%s: %s", c->name, err.msg);
        if (strcmp(out, c->expect) != 0)
            fail_msg("%s:\n got  \"%s\"\n want \"%s\"", c->name, out, c->expect);
        free(out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_user),
        cmocka_unit_test(test_system_user),
        cmocka_unit_test(test_gemma3_md_reference),
        cmocka_unit_test(test_multi_turn_assistant_and_model_names),
        cmocka_unit_test(test_trimming),
        cmocka_unit_test(test_empty_conversation),
        cmocka_unit_test(test_bad_alternation),
        cmocka_unit_test(test_system_placement),
        cmocka_unit_test(test_unknown_role),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_matches_hf_jinja_renders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
