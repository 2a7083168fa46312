"""Writes tests/fixtures/logits/*.uelg: reference logits of Gemma 3 270M Q4_K_M for 8 prompts.

Model: models/gemma-3-270m-q4_k_m.gguf (bash scripts/fetch_model.sh). Logits come from
tools/reference/gemma3_ref.py (numpy, fp32, checked against transformers); token ids from a
SentencePiece model rebuilt from the GGUF vocabulary (tools/reference/gguf_spm.py) with the
control ids <bos>=2, <start_of_turn>=105, <end_of_turn>=106 inserted by hand. The ids are stored,
so a C test needs neither Python nor the C tokenizer. Also writes tests/fixtures/logits/README.md
(each prompt's greedy continuation, decoded). Run from the repo root:
    python3 tools/make_logit_fixtures.py
Needs numpy, gguf, sentencepiece, protobuf; the long prompt is the start of
/usr/share/common-licenses/GPL-3 (Debian base-files), checked by sha256.

File format UELG version 1 (one file per prompt, all little-endian, no padding, no alignment):
  header, 32 bytes: char magic[4] = "UELG"; u32 version = 1; u32 n_prompt (P); u32 top_k (K = 16);
                    u32 n_full_pos (F); u32 n_full_ids (V); u32 n_gen (G); u32 n_vocab (262144)
  i32 prompt_ids[P]       the prompt, <bos> first
  i32 top_ids[P][K]       for every prompt position p, the K largest logits of the distribution
  f32 top_logits[P][K]      predicting token p+1, by descending logit (ties: lower id first)
  f32 margin[P]           top_logits[p][0] - top_logits[p][1]
  i32 full_pos[F]         prompt positions (ascending) whose logits are stored at full_ids
  i32 full_ids[V]         vocabulary ids (ascending; the same 8192 pseudo-random ids in every file)
  f32 full_logits[F][V]   logits at full_pos[f] for full_ids[v]
  i32 gen_ids[G]          greedy continuation: gen_ids[0] = argmax at position P-1; step i >= 1 is
                            argmax after feeding gen_ids[i-1] at position P+i-1 (not stopped at <eos>)
  f32 gen_top1[G]         the logit of gen_ids[i] at its step
  f32 gen_margin[G]       top-1 minus top-2 logit at that step (small = near-tie: tolerate a swap)
Same text in tests/fixtures/logits/FORMAT.md; reader/writer in tools/reference/uelg.py.
"""
import hashlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import gemma3_ref  # noqa: E402
import gguf_spm  # noqa: E402
import uelg  # noqa: E402

MODEL = os.path.join("models", "gemma-3-270m-q4_k_m.gguf")
OUT_DIR = os.path.join("tests", "fixtures", "logits")
TOP_K = 16
N_FULL_IDS = 8192
FULL_IDS_SEED = 20250301
N_GEN = 64
LONG_MIN_TOKENS = 1500
GPL3 = "/usr/share/common-licenses/GPL-3"
GPL3_SHA256 = "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"
BOS, SOT, EOT = 2, 105, 106

CODE = '''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return b


def is_prime(n):
    """Return True if n is a prime number."""
'''

FACTUAL = ("Photosynthesis is the process by which green plants, algae and some bacteria convert light "
           "energy into chemical energy. It takes place mainly in the chloroplasts of leaf cells, where "
           "the pigment chlorophyll absorbs red and blue light. During the light-dependent reactions, "
           "water molecules are split, releasing oxygen as a by-product, while the energy carriers ATP "
           "and NADPH are produced. In the Calvin cycle, which does not need light directly, the enzyme "
           "RuBisCO fixes carbon dioxide from the air into three-carbon sugars. The overall chemical "
           "equation for photosynthesis is")

CHAT = [("system", "You are a helpful travel assistant. Answer briefly."),
        ("user", "Hi! Can you help me plan a trip?"),
        ("model", "Of course! Where would you like to go, and for how long?"),
        ("user", "I want to visit Japan for one week in spring. Which cities should I see?")]


def long_text():
    """The first paragraphs of the GPL-3 text, verbatim, enough for LONG_MIN_TOKENS tokens."""
    raw = open(GPL3, "rb").read()
    if hashlib.sha256(raw).hexdigest() != GPL3_SHA256:
        raise SystemExit(f"{GPL3}: unexpected sha256; the long prompt would differ from the fixture")
    return raw.decode("utf-8").split("\n\n")


def chat_ids(sp, turns):
    """Gemma 3 chat template (gemma3.md §3): system text merged into the first user turn."""
    ids = [BOS]
    system = ""
    for role, text in turns:
        if role == "system":
            system = text.strip() + "\n\n"
            continue
        ids += [SOT] + sp.encode(f"{role}\n{system}{text.strip()}") + [EOT] + sp.encode("\n")
        system = ""
    return ids + [SOT] + sp.encode("model\n")


def prompts(sp):
    paras = long_text()
    n = 1
    while len(sp.encode("\n\n".join(paras[:n]) + "\n\n")) + 1 < LONG_MIN_TOKENS:
        n += 1
    return [
        ("short_question", [BOS] + sp.encode("Question: What is the capital of France?\nAnswer:")),
        ("factual_photosynthesis", [BOS] + sp.encode(FACTUAL)),
        ("long_gpl3", [BOS] + sp.encode("\n\n".join(paras[:n]) + "\n\n")),
        ("chat_multiturn", chat_ids(sp, CHAT)),
        ("french", [BOS] + sp.encode(
            "La tour Eiffel, construite pour l'Exposition universelle de 1889, est aujourd'hui le "
            "monument le plus visité de Paris. Chaque année, des millions de touristes")),
        ("japanese", [BOS] + sp.encode(
            "富士山は日本で一番高い山で、標高は3776メートルです。毎年夏になると、多くの登山者が")),
        ("russian", [BOS] + sp.encode(
            "Москва — столица России и крупнейший город страны. Она была основана в 1147 году, "
            "а сегодня в ней живёт")),
        ("code_python", [BOS] + sp.encode(CODE)),
    ]


def full_positions(p):
    return sorted({p // 4, p // 2, (3 * p) // 4, p - 1})


def render(sp, ids, control):
    """Decoded text with control tokens shown by name (SentencePiece decode drops them)."""
    out, run = [], []
    for i in ids:
        if i in control:
            out.append(sp.decode(run))
            out.append(sp.id_to_piece(i))
            run = []
        else:
            run.append(i)
    out.append(sp.decode(run))
    return "".join(out)


def main():
    t0 = time.time()
    model = gemma3_ref.Gemma3Ref(MODEL)
    sp = gguf_spm.build(model.metadata)
    types = model.metadata["tokenizer.ggml.token_type"]
    control = {i for i, t in enumerate(types) if int(t) == 3}
    full_ids = np.sort(np.random.default_rng(FULL_IDS_SEED).choice(model.n_vocab, N_FULL_IDS, replace=False))
    print(f"model loaded in {time.time() - t0:.1f}s")
    os.makedirs(OUT_DIR, exist_ok=True)
    readme = ["# Logit fixtures: Gemma 3 270M Q4_K_M, reference greedy continuations", "",
              "Written by `tools/make_logit_fixtures.py` (numpy reference `tools/reference/gemma3_ref.py`);",
              "format in FORMAT.md. Each `<name>.uelg` holds the prompt ids, top-16 logits at every prompt",
              "position, logits at 8192 fixed ids for 4 positions and a 64-token greedy continuation, shown",
              "decoded below (control tokens by name) so a human can see the model talks sense. The GGUF",
              "has no chat template and behaves like the pretrained (not instruction-tuned) 270M.", ""]
    total = 0
    for name, ids in prompts(sp):
        t = time.time()
        s = uelg.Summary(ids, TOP_K, full_positions(len(ids)), full_ids, model.n_vocab)
        cache = gemma3_ref.KVCache(model.hp.n_layer)
        h = model.hidden(ids, cache)
        for start in range(0, len(ids), 128):
            s.add_rows(start, model.logits_from_hidden(h[start:start + 128]))
        # Continue from the same cache: row 0 of the generation is the last prompt position.
        gen, rows = [], [model.logits_from_hidden(h[-1:])[0]]
        for i in range(N_GEN):
            gen.append(int(np.argmax(rows[-1])))
            if i + 1 < N_GEN:
                rows.append(model.logits([gen[-1]], cache)[0])
        s.set_generation(gen, np.stack(rows))
        path = os.path.join(OUT_DIR, name + ".uelg")
        s.write(path)
        size = os.path.getsize(path)
        total += size
        print(f"{name}: {len(ids)} prompt tokens, {size} bytes, min prompt margin {s.margin.min():.4f}, "
              f"min gen margin {s.gen_margin.min():.4f}, {time.time() - t:.1f}s")
        prompt_text = render(sp, ids, control)
        if len(prompt_text) > 400:
            prompt_text = f"[{len(ids)} tokens] ...{prompt_text[-300:]}"
        readme += [f"## {name} ({len(ids)} prompt tokens)", "", "Prompt:", "", "```", prompt_text, "```", "",
                   "Greedy continuation (64 tokens):", "", "```", render(sp, gen, control), "```", ""]
    with open(os.path.join(OUT_DIR, "README.md"), "w") as f:
        f.write("\n".join(readme))
    print(f"total {total} bytes; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
