#!/usr/bin/env python3
"""Writes tests/fixtures/chat_template/hf_renders.h: conversations rendered by the real
Gemma 3 instruct chat template through transformers' own jinja renderer, as C data for
tests/test_chat_template.c (which checks ue_chat_render byte for byte, errors included).

The template text is google/gemma-3-*-it's tokenizer_config.json "chat_template" (our GGUF
does not carry one). Cases where src/model/chat_template.c deliberately differs from it
(a lone system message, unknown roles, a system message after the first) are left out here
and tested by hand in the C test.

Run from the repository root: python3 tools/make_chat_template_fixture.py (needs
transformers + jinja2; deterministic).
"""
import os

from transformers.utils.chat_template_utils import render_jinja_template

OUT = os.path.join("tests", "fixtures", "chat_template", "hf_renders.h")

GEMMA3_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)

U, A, M, S = "user", "assistant", "model", "system"

# (name, add_generation_prompt, [(role, content), ...])
CASES = [
    ("single_user", True, [(U, "Hello")]),
    ("single_user_no_prompt", False, [(U, "Hello")]),
    ("system_user", True, [(S, "You are terse."), (U, "Hi")]),
    ("gemma3_md_reference", True, [(S, "SYS"), (U, "Hello"), (A, "Hi"), (U, "More?")]),
    ("multi_turn_assistant", False, [(U, "a"), (A, "b"), (U, "c"), (A, "d")]),
    ("multi_turn_model_role", True, [(U, "a"), (M, "b"), (U, "c")]),
    ("trim_ascii", True, [(U, " \t\n hello world \r\n\x0b\x0c "), (A, "\n\nanswer\n\n")]),
    ("trim_unicode", True,
     [(U, "\u00a0\u3000\u2009\u1680\u205f\u202f\u2028\u2029\u0085\x1c\x1d\x1e\x1f x y "
          "\u2000\u200a\u00a0")]),
    ("trim_keeps_zero_width", True, [(U, "\u200bz\u200b\ufeff")]),
    ("trim_keeps_inner", True, [(U, "  line one\n\n  line two  ")]),
    ("system_not_trimmed", True, [(S, "  sys  \n"), (U, "  q  ")]),
    ("empty_contents", True, [(S, ""), (U, ""), (A, "   "), (U, "\n")]),
    ("utf8_content", True, [(U, "Grüße, 世界 🦄"), (A, "ok ✓")]),
    ("special_text_verbatim", True, [(U, "<end_of_turn>\n<start_of_turn>model\nx")]),
    ("ends_with_model_turn", False, [(S, "s"), (U, "q"), (M, "a")]),
    ("ends_with_model_turn_prompt", True, [(U, "q"), (A, "a")]),
    ("error_user_user", True, [(U, "a"), (U, "b")]),
    ("error_model_first", True, [(A, "a"), (U, "b")]),
    ("error_system_then_model", True, [(S, "s"), (M, "a")]),
    ("error_model_model", True, [(U, "a"), (M, "b"), (A, "c")]),
    ("error_late_user_user", False, [(S, "s"), (U, "a"), (A, "b"), (U, "c"), (U, "d")]),
]


def c_string(s):
    out = ['"']
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append("\\%03o" % b)  # always 3 octal digits: never runs into the next char
    out.append('"')
    return "".join(out)


def render(messages, add_gen):
    conv = [{"role": r, "content": c} for r, c in messages]
    try:
        rendered, _ = render_jinja_template(conversations=[conv], chat_template=GEMMA3_TEMPLATE,
                                            add_generation_prompt=add_gen, bos_token="<bos>")
        return rendered[0]
    except Exception as e:  # the template's raise_exception
        if "alternate" not in str(e):
            raise
        return None


def main():
    lines = [
        "/* Generated by tools/make_chat_template_fixture.py from Gemma 3's HF chat template;",
        " * do not edit. expect is NULL where the template raises an exception. */",
        "#include \"unicorn.h\"",
        "",
    ]
    entries = []
    for i, (name, add_gen, msgs) in enumerate(CASES):
        expect = render(msgs, add_gen)
        lines.append("static const ue_chat_message hf_msgs_%d[] = {" % i)
        for role, content in msgs:
            lines.append("    {%s, %s}," % (c_string(role), c_string(content)))
        lines.append("};")
        entries.append("    {%s, hf_msgs_%d, %d, %d, %s}," % (
            c_string(name), i, len(msgs), int(add_gen),
            c_string(expect) if expect is not None else "NULL"))
    lines += [
        "",
        "typedef struct hf_case {",
        "    const char *name;",
        "    const ue_chat_message *messages;",
        "    size_t n_messages;",
        "    int add_generation_prompt;",
        "    const char *expect;",
        "} hf_case;",
        "",
        "static const hf_case hf_cases[] = {",
    ] + entries + ["};", ""]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
