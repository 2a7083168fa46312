#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer/cases.txt: varied strings and the ids SentencePiece gives
them with the Gemma 3 vocabulary, for tests/test_tokenizer.c (src/model/tokenizer.c).

The ground truth is the sentencepiece library: a BPE ModelProto is built from the GGUF
vocabulary (pieces, scores, types; byte_fallback on, identity normalizer, no dummy prefix,
no extra-whitespace removal). llama.cpp's converter stores user-defined pieces with ' '
where the SentencePiece model has U+2581, so that is undone here. Rules SentencePiece has no
notion of, done here around it (and the same way in the C code):
  * parse_special on: the text (spaces already U+2581) is scanned left to right and at each
    position the longest control/unknown/user-defined piece is cut out as its id; the rest is
    encoded by SentencePiece piece by piece. Off: SentencePiece alone (it cuts user-defined
    pieces itself the same way).
  * invalid UTF-8: SentencePiece would turn each bad byte into U+FFFD; we keep the byte as a
    byte-fallback token <0xXX>. A bad byte never merges (every piece is valid UTF-8), so the
    valid runs between bad bytes are encoded separately.

Run from the repository root: python3 tools/make_tokenizer_fixtures.py [--compare-llama]
(needs gguf and sentencepiece; deterministic). --compare-llama also runs a Python model of
llama.cpp's SPM tokenizer over the cases and prints where it differs from SentencePiece.
"""
import os
import random
import struct
import sys
import unicodedata

import gguf
import sentencepiece as spm

MODEL = os.path.join("models", "gemma-3-270m-q4_k_m.gguf")
OUT = os.path.join("tests", "fixtures", "tokenizer", "cases.txt")
SPACE = "\u2581"

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


# ---- vocabulary and SentencePiece model ---------------------------------------------------

def load_vocab(path):
    r = gguf.GGUFReader(path)

    def arr(key):
        f = r.fields[key]
        return [f.parts[i] for i in f.data]

    def scalar(key):
        f = r.fields[key]
        return f.parts[f.data[0]][0]

    tokens = [bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in arr("tokenizer.ggml.scores")]
    types = [int(p[0]) for p in arr("tokenizer.ggml.token_type")]
    ids = {k: int(scalar("tokenizer.ggml." + k + "_token_id"))
           for k in ("bos", "eos", "unknown", "padding")}
    return tokens, scores, types, ids


def pb_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_field(num, wire, payload):
    key = pb_varint((num << 3) | wire)
    if wire == 0:
        return key + pb_varint(payload)
    if wire == 5:
        return key + struct.pack("<f", payload)
    return key + pb_varint(len(payload)) + payload  # wire 2


def sp_piece_text(tok, typ):
    return tok.replace(" ", SPACE) if typ == USER_DEFINED else tok


def build_sp_model(tokens, scores, types, ids, split_digits=False):
    """Serialises a sentencepiece ModelProto by hand (no protobuf package needed)."""
    unk = ids["unknown"]
    parts = []
    for i, (tok, score, typ) in enumerate(zip(tokens, scores, types)):
        if i == unk:
            typ = UNKNOWN  # SentencePiece wants exactly one; the GGUF marks <unk> CONTROL
        piece = pb_field(1, 2, sp_piece_text(tok, typ).encode("utf-8"))
        piece += pb_field(2, 5, score) + pb_field(3, 0, typ)
        parts.append(pb_field(1, 2, piece))
    trainer = (pb_field(3, 0, 2) + pb_field(4, 0, len(tokens)) + pb_field(35, 0, 1)
               + pb_field(25, 0, 1 if split_digits else 0)
               + pb_field(40, 0, unk) + pb_field(41, 0, ids["bos"]) + pb_field(42, 0, ids["eos"])
               + pb_field(43, 0, ids["padding"])
               + pb_field(45, 2, tokens[unk].encode()) + pb_field(46, 2, tokens[ids["bos"]].encode())
               + pb_field(47, 2, tokens[ids["eos"]].encode())
               + pb_field(48, 2, tokens[ids["padding"]].encode()))
    normalizer = (pb_field(1, 2, b"identity") + pb_field(3, 0, 0) + pb_field(4, 0, 0)
                  + pb_field(5, 0, 1))
    parts.append(pb_field(2, 2, trainer))
    parts.append(pb_field(3, 2, normalizer))
    return b"".join(parts)


# ---- reference encoding -------------------------------------------------------------------

def utf8_char_len(b, i):
    """Length of the valid UTF-8 character at b[i], or 0 (SentencePiece's DecodeUTF8 rules)."""
    c = b[i]
    n = len(b) - i
    if c < 0x80:
        return 1
    if c & 0xE0 == 0xC0 and n >= 2:
        need, cp = 2, c & 0x1F
    elif c & 0xF0 == 0xE0 and n >= 3:
        need, cp = 3, c & 0x0F
    elif c & 0xF8 == 0xF0 and n >= 4:
        need, cp = 4, c & 0x07
    else:
        return 0
    for k in range(1, need):
        if b[i + k] & 0xC0 != 0x80:
            return 0
        cp = (cp << 6) | (b[i + k] & 0x3F)
    low = {2: 0x80, 3: 0x800, 4: 0x10000}[need]
    if cp < low or 0xD800 <= cp < 0xE000 or cp > 0x10FFFF:
        return 0
    return need


class Reference:
    def __init__(self, tokens, scores, types, ids, sp):
        self.sp = sp
        self.byte_id = {}
        for i, t in enumerate(tokens):
            if types[i] == BYTE:
                self.byte_id[int(t[3:5], 16)] = i
        # Pieces cut out before BPE: user-defined always, control/unknown with parse_special.
        self.special = {}
        for i, (t, typ) in enumerate(zip(tokens, types)):
            if typ in (CONTROL, UNKNOWN, USER_DEFINED) or i == ids["unknown"]:
                self.special.setdefault(sp_piece_text(t, typ).encode(), (i, typ))
        self.max_special = max(len(k) for k in self.special)

    def sp_valid(self, b):
        """SentencePiece over bytes that may hold invalid UTF-8 (see the module comment)."""
        out, i, start = [], 0, 0
        while i < len(b):
            n = utf8_char_len(b, i)
            if n:
                i += n
                continue
            if start < i:
                out += self.sp.encode(b[start:i].decode("utf-8"))
            out.append(self.byte_id[b[i]])
            i += 1
            start = i
        if start < len(b):
            out += self.sp.encode(b[start:].decode("utf-8"))
        return out

    def encode(self, b, parse_special):
        if not parse_special:
            return self.sp_valid(b)
        return self.cut(b, (CONTROL, UNKNOWN, USER_DEFINED))

    def cut(self, b, kinds):
        norm = b.replace(b" ", SPACE.encode())
        out, i, start = [], 0, 0
        while i < len(norm):
            hit = None
            for n in range(min(self.max_special, len(norm) - i), 0, -1):
                if self.special.get(norm[i:i + n], (0, 0))[1] in kinds:
                    hit = n
                    break
            if hit is None:
                i += 1
                continue
            if start < i:
                out += self.sp_valid(norm[start:i])
            out.append(self.special[norm[i:i + hit]][0])
            i += hit
            start = i
        if start < len(norm):
            out += self.sp_valid(norm[start:])
        return out


class LlamaModel:
    """Python model of llama.cpp's SPM tokenizer (partition on special strings longest
    first over raw text, then score-ordered merges into any vocab piece), for comparison."""

    def __init__(self, tokens, scores, types):
        self.tokens, self.scores = tokens, scores
        self.to_id = {}
        for i, t in enumerate(tokens):
            self.to_id.setdefault(t.encode(), i)
        self.byte_id = {int(t[3:5], 16): i for i, t in enumerate(tokens) if types[i] == BYTE}
        self.specials = sorted([i for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED, UNKNOWN)],
                               key=lambda i: -len(tokens[i].encode()))
        self.types = types

    def spm(self, text):
        import heapq
        syms, i = [], 0
        while i < len(text):
            c = text[i]
            n = 1 if c < 0x80 else 2 if c >> 5 == 6 else 3 if c >> 4 == 14 else 4 if c >> 3 == 30 else 1
            n = min(n, len(text) - i)
            syms.append([i, n, len(syms) - 1, len(syms) + 1])
            i += n
        if not syms:
            return []
        syms[-1][3] = -1
        heap, rev = [], {}

        def add(l, r):
            if l < 0 or r < 0:
                return
            s = text[syms[l][0]:syms[l][0] + syms[l][1] + syms[r][1]]
            tid = self.to_id.get(s)
            if tid is None:
                return
            heapq.heappush(heap, (-self.scores[tid], l, r, len(s)))
            rev[s] = (l, r)

        for k in range(1, len(syms)):
            add(k - 1, k)
        while heap:
            _, l, r, size = heapq.heappop(heap)
            if syms[l][1] == 0 or syms[r][1] == 0 or syms[l][1] + syms[r][1] != size:
                continue
            syms[l][1] += syms[r][1]
            syms[r][1] = 0
            syms[l][3] = syms[r][3]
            if syms[r][3] >= 0:
                syms[syms[r][3]][2] = l
            add(syms[l][2], l)
            add(l, syms[l][3])
        out = []

        def reseg(k):
            s = text[syms[k][0]:syms[k][0] + syms[k][1]]
            tid = self.to_id.get(s)
            if tid is not None:
                out.append(tid)
            elif s in rev:
                reseg(rev[s][0])
                reseg(rev[s][1])
            else:
                out.extend(self.byte_id[x] for x in s)

        k = 0
        while k != -1:
            if syms[k][1]:
                reseg(k)
            k = syms[k][3]
        return out

    def encode(self, b, parse_special):
        frags = [b]
        for sid in self.specials:
            if not parse_special and self.types[sid] != USER_DEFINED:
                continue
            s = self.tokens[sid].encode()
            nxt = []
            for f in frags:
                if isinstance(f, int):
                    nxt.append(f)
                    continue
                while True:
                    k = f.find(s)
                    if k < 0:
                        break
                    if k:
                        nxt.append(f[:k])
                    nxt.append(sid)
                    f = f[k + len(s):]
                if f:
                    nxt.append(f)
            frags = nxt
        out = []
        for f in frags:
            out += [f] if isinstance(f, int) else self.spm(f.replace(b" ", SPACE.encode()))
        return out


# ---- corpus -------------------------------------------------------------------------------

def corpus():
    rng = random.Random(20250301)
    cases = []

    def add(name, s):
        cases.append((name, s if isinstance(s, bytes) else s.encode("utf-8")))

    add("empty", "")
    add("space", " ")
    for t in ["Hello, world!", "Hello world", " Hello", "Hello ", "hello", "HELLO", "Hello.",
              "The quick brown fox jumps over the lazy dog.", "I'm here; you're there.",
              "don't", "e-mail", "U.S.A.", "Mr. Smith's car", "What?!", "a", "ab", "abc",
              "the", " the", "  the", "the  ", "unbelievable", "antidisestablishmentarianism",
              "Supercalifragilisticexpialidocious", "naïve café résumé", "Ελληνικά", "Ñandú",
              "straße", "İstanbul", "ﬁne ligature", "Å Å (NFC vs NFD)"]:
        add("basic", t)
    # whitespace runs
    for n in list(range(1, 36)) + [40, 62, 63, 64, 100]:
        add("spaces", " " * n)
        add("spaces_word", "a" + " " * n + "b")
    for n in list(range(1, 34)) + [40, 62, 64, 100]:
        add("newlines", "\n" * n)
        add("tabs", "\t" * n)
    for n in (1, 2, 3, 5, 8):
        add("crlf", "line one\r\n" * n)
    for t in [" \n", "\n ", " \n ", "\t \t", "a \n b", "a\n\nb", "x\n\n\n\ny", "\t\tindented\n\t\tcode",
              "  \n  \n", " \t\n\r\x0b\x0c", "end.\n", "\n\nstart", "word\t\tword", "a\u00a0b",
              "a\u3000b", "a\u2009b", "a\u200bb", "\u2581", "\u2581\u2581", "a\u2581b", " \u2581 ",
              "\u2581 the", "x \u2581\u2581 y", "trailing   ", "   leading", "mid   dle",
              "\r", "\r\r\n\n", "\x0b\x0c", "  \t  \t", "\u2028\u2029", "\ufeffBOM"]:
        add("whitespace", t)
    # digits and numbers
    for t in ["0", "7", "12", "123", "1234", "12345", "123456789", "3.14159", "-42", "+1",
              "1,000,000", "1 000 000", "2024-01-01", "12:34:56", "v1.2.3", "0x1F", "1e-10",
              "555-0123", "(555) 012-3456", "$19.99", "€5", "100%", "1st 2nd 3rd 4th",
              "9" * 50, "0123456789" * 10, "١٢٣٤٥", "০১২৩", "१२३", "１２３", "½ ¾ ⅓",
              "Ⅻ Ⅳ", "²³", "x1y2z3", "a1", "1a", "10.0.0.1", "+44 20 7946 0958", "007",
              "3,14", "1_000_000", "0b1010", "-0.0", "∞", "#123", "pi=3.1415926535897932384626"]:
        add("digits", t)
    # code
    code = [
        "int main(void) {\n    printf(\"Hello, %s!\\n\", name);\n    return 0;\n}\n",
        "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "for i in range(10):\n\tprint(i ** 2)  # squares\n",
        "const x = async () => { await fetch(`/api/${id}`); };\n",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n}\n",
        "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
        "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
        "<html><body><div class=\"x\">Hi</div></body></html>",
        "<table><tr><td>1</td><td>2</td></tr></table>",
        "<h1>Title</h1>\n<p><strong>bold</strong> <em>it</em> <code>x</code></p>",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
        "$ ls -la | grep '^d' && echo \"done\" > /dev/null 2>&1",
        "\\begin{equation} E = mc^2 \\end{equation}",
        "# Title\n\n- item one\n- item two\n\n```python\nx = 1\n```\n",
        "if (a && b || !c) { x += 1; } else { x -= 1; }",
        "std::vector<std::string> v{\"a\", \"b\"};",
        "public static void main(String[] args) throws Exception {}",
        "   ",
        "    return x;\n",
        "\t\t\tdeeply(nested);\n",
        "x=1;y=2;z=x+y",
        "a->b->c; *p++ = *q--;",
        "<?php echo $x; ?>",
        "SELECT * FROM t WHERE s LIKE '%foo%';",
        "<<<<<<< HEAD\n=======\n>>>>>>> branch\n",
        "// comment\n/* block */\n",
        "lambda x: x if x else None",
        "0xDEADBEEF & 0xFF",
        "a[i][j] = b[j][i];",
    ]
    for c in code:
        add("code", c)
    # emoji and symbols
    for t in ["😀", "😀😀😀", "👍", "👍🏽", "👍🏿 👍🏻", "👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "🇯🇵🇺🇸🇫🇷", "1️⃣",
              "❤️", "✨ sparkles ✨", "🤖 robot", "I ❤ NY", "🧑🏽‍🚀", "🫠", "☃", "♠♥♦♣",
              "→ ← ↑ ↓", "© ® ™", "★☆", "✓✗", "∑∫√≈≠≤≥", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚", "🀄",
              "emoji😀in😀text", "👨🏾‍🦰👩🏼‍🦳"]:
        add("emoji", t)
    # scripts
    for t in ["你好，世界！", "我爱北京天安门。", "日本語のテキストです。", "カタカナ ひらがな 漢字",
              "한국어 텍스트입니다.", "안녕하세요", "مرحبا بالعالم", "السلام عليكم ورحمة الله",
              "שלום עולם", "नमस्ते दुनिया", "हिन्दी में लिखा गया पाठ", "Привет, мир!",
              "Съешь же ещё этих мягких французских булок.", "Γειά σου Κόσμε", "สวัสดีชาวโลก",
              "ভাষা বাংলা ১২৩", "தமிழ் மொழி", "Tiếng Việt có dấu", "ქართული ენა", "አማርኛ",
              "Հայերեն", "ᠮᠣᠩᠭᠣᠯ", "ꯃꯤꯇꯩ", "ᚠᚢᚦᚨᚱᚲ", "𓀀𓀁", "עִבְרִית", "e\u0301", "a\u0308\u0304",
              "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324", "ﷺ",
              "Hello 你好 مرحبا Привет 😀", "English текст 日本語 123", "mixed: abcабв",
              "Ünïcödé ẞtrëß", "ℌ𝔢𝔩𝔩𝔬", "ｆｕｌｌｗｉｄｔｈ", "ｱｲｳｴｵ", "〒〶〠"]:
        add("script", t)
    # invalid UTF-8
    for b in [b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc2", b"\xe4\xb8", b"\xe4\xb8A",
              b"\xf0\x9f\x98", b"\xf0\x9f\x98 x", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
              b"\xf5\x80\x80\x80", b"\xff", b"\xfe\xff", b"abc\xffdef", b"\xe0\x80\x80",
              b"\xf0\x80\x80\x80", b"hello \x80world", b"\xc3\x28", b"\xa0\xa1",
              b"\xe2\x82\x28", b"\xe2\x28\xa1", b"\xf0\x90\x28\xbc", b"\xf0\x28\x8c\x28",
              b"caf\xe9", b"\xe9t\xe9", b"\xc3\xa9\xc3", b"\x00", b"a\x00b", b"\xe2\x96",
              b"\xe2\x96 x", b" \xe2\x96\x81\x81", b"\xef\xbf\xbd", b"\x80\x80\x80\x80",
              b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"<start_of_turn>\xff"]:
        add("invalid", b)
    # special-token strings
    for t in ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>", "<mask>",
              "<start_of_image>", "<end_of_image>", "<unused0>", "<unused5>", "<unused98>",
              "<unused6241>", "<unused6242>", "[multimodal]", "<image_soft_token>",
              "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
              "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>",
              "text<bos>text", "<bos><bos>", "<<bos>>", "<bos", "bos>", "<start_of_turn",
              "<end_of_turn >", "< bos>", "<BOS>", "<s>", "</s>", "<0x41>", "<0x0A>", "<table>",
              "<unused1><unused10><unused100>", "<unused1", "x[multimodal]y", "[multimodal",
              "a <start_of_turn> b", "  <end_of_turn>  ", "\n<start_of_turn>\n", "<td><unk></td>",
              "<start_of_image>" + "x" * 5 + "<end_of_image>", "<mask> <pad> <unk>",
              "<end_of_turn><end_of_turn>", "<start_of_turn>model\n<eos>", "<bbox>1 2 3 4</bbox>",
              "<blockquote>quote</blockquote>", "<b><i><u><s>x</s></u></i></b>"]:
        add("special", t)
    # control characters
    for c in range(0, 32):
        add("control", "x" + chr(c) + "y")
    add("control", "".join(chr(c) for c in range(32)) + "\x7f")
    add("control", "\x1b[31mred\x1b[0m")

    # real text from the Python standard library (docstrings and source)
    import collections.abc
    import contextlib
    import io
    import json
    import textwrap
    with contextlib.redirect_stdout(io.StringIO()) as zen_out:
        import this  # noqa: F401  (prints the Zen of Python)
    zen = zen_out.getvalue()
    add("prose", zen)
    for mod in (json, textwrap, collections, random, unicodedata):
        doc = (mod.__doc__ or "").strip()
        if doc:
            add("prose", doc[:2000])
    import inspect
    for fn in (textwrap.wrap, json.dumps, random.Random.shuffle, collections.namedtuple):
        add("source", inspect.getsource(fn)[:3000])

    # random mixtures
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            + list(" " * 12) + list("\n\t.,;:!?'\"()[]{}<>/\\-_=+*&^%$#@~`|")
            + list("éüñßçøåæœ你好世界日本語한국어привет مرحبا नमस्ते😀👍🏽‍️\u2581\u00a0")
            + ["<bos>", "<start_of_turn>", "<end_of_turn>", "[multimodal]", "<unused3>", "<td>",
               "  ", "\n\n", "\t\t", "    ", "<unk>", "<eos>"])
    for k in range(220):
        n = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 80, 160])
        add("random", "".join(rng.choice(pool) for _ in range(n)))
    byte_pool = list(range(256))
    for k in range(40):
        n = rng.choice([1, 2, 4, 8, 16, 32, 64])
        add("random_bytes", bytes(rng.choice(byte_pool) for _ in range(n)))
    for k in range(20):
        words = ["the", "of", "and", "tokenizer", "Gemma", "model", " ", "  ", "\n", "42",
                 "3.5", "über", "日本", "🙂", "<b>", "x"]
        add("words", " ".join(rng.choice(words) for _ in range(rng.randint(5, 60))))

    # long inputs
    add("long_a", "a" * 5000)
    add("long_spaces", " " * 3000)
    add("long_newlines", "\n" * 2000)
    add("long_digits", "".join(rng.choice("0123456789") for _ in range(3000)))
    add("long_prose", (zen + "\n\n") * 12)
    add("long_mixed", "".join(rng.choice(pool) for _ in range(12000)))
    add("long_cjk", "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(4000)))
    add("long_emoji", "👨‍👩‍👧‍👦👍🏽🇯🇵" * 300)
    return cases


# ---- output -------------------------------------------------------------------------------

def main():
    tokens, scores, types, ids = load_vocab(MODEL)
    sp = spm.SentencePieceProcessor(model_proto=build_sp_model(tokens, scores, types, ids))
    ref = Reference(tokens, scores, types, ids, sp)
    cases = corpus()

    # split_digits is a training option: encoding must not depend on it.
    sp_digits = spm.SentencePieceProcessor(
        model_proto=build_sp_model(tokens, scores, types, ids, split_digits=True))
    for _, b in cases:
        if utf8_char_len_all(b):
            assert sp.encode(b.decode()) == sp_digits.encode(b.decode())

    llama = LlamaModel(tokens, scores, types) if "--compare-llama" in sys.argv else None
    lines = ["# Generated by tools/make_tokenizer_fixtures.py from " + MODEL + ": do not edit.",
             "# n_vocab %d; per case: 'case NAME', 'text HEX', 'off IDS' (parse_special off),"
             % len(tokens),
             "# 'on IDS' or 'on =' (same as off), and for invalid UTF-8 'repl HEX' (the text"
             " decoded with U+FFFD for each maximal bad subsequence)."]
    n_diff = 0
    for name, b in cases:
        off = ref.encode(b, False)
        on = ref.encode(b, True)
        # Cutting user-defined pieces out ourselves must match SentencePiece doing it.
        assert off == ref.cut(b, (USER_DEFINED,)), name
        if llama is not None:
            for ps, want in ((False, off), (True, on)):
                got = llama.encode(b, ps)
                if got != want:
                    n_diff += 1
                    k = next((k for k, (x, y) in enumerate(zip(got, want)) if x != y),
                             min(len(got), len(want)))
                    print("llama.cpp model differs (%s, parse_special=%d, valid UTF-8 without U+2581 %s): %r\n"
                          "  sp    %s\n  llama %s" % (name, ps, utf8_char_len_all(b) and SPACE.encode() not in b, b[:60],
                                                      want[max(0, k - 3):k + 6], got[max(0, k - 3):k + 6]))
        lines.append("case " + name)
        lines.append("text " + b.hex())
        lines.append("off " + " ".join(map(str, off)))
        lines.append("on " + ("=" if on == off else " ".join(map(str, on))))
        if not utf8_char_len_all(b):
            lines.append("repl " + b.decode("utf-8", "replace").encode().hex())
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%s: %d cases, %d bytes" % (OUT, len(cases), os.path.getsize(OUT)))
    if llama is not None:
        print("llama.cpp model: %d differences" % n_diff)


def utf8_char_len_all(b):
    i = 0
    while i < len(b):
        n = utf8_char_len(b, i)
        if not n:
            return False
        i += n
    return True


if __name__ == "__main__":
    main()
