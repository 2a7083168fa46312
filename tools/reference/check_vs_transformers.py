"""Checks gemma3_ref.py against Hugging Face transformers on tiny random Gemma 3 models, and
writes those models (GGUF) and transformers' logits (UELG) as fixtures for the C engine.

Each variant: seeded random torch weights (norms random around 0, so 1+w is non-trivial) ->
transformers Gemma3ForCausalLM (eager attention, fp32) logits over a 40-token sequence and a
16-token greedy continuation; the same weights -> GGUF with llama.cpp conventions (gemma3.md
§3, §4: arch "gemma3", +1 folded into norms, ggml ne=[in, out], tied output, a Gemma-shaped
512-piece vocabulary); gemma3_ref.py on that GGUF must match transformers (TOLERANCE).
Quantized variants quantize first and give transformers the dequantized weights, so both sides
use identical numbers. With --real MODEL.gguf it also loads a real gemma3 GGUF's dequantized weights into transformers
(norms minus 1) and compares both on the long logit-fixture prompt (positions past the sliding
window). Needs torch + transformers (not in CI); run from the repo root:
    python3 tools/reference/check_vs_transformers.py [--no-write] [--real models/gemma-3-270m-q4_k_m.gguf]
Outputs tests/fixtures/tiny/<variant>.gguf and <variant>.uelg (format: tests/fixtures/logits/FORMAT.md).
"""
import argparse
import os
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter, RopeScalingType
from gguf.quants import dequantize, quantize
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma3_ref  # noqa: E402
import uelg  # noqa: E402

TOLERANCE = 1e-4  # max |logit_ref - logit_transformers| allowed, fp32 on both sides
N_PROMPT = 40
N_GEN = 16
TOP_K = 16
OUT_DIR = os.path.join("tests", "fixtures", "tiny")

VARIANTS = {
    # All F32, odd sizes (n_head*head_dim != n_embd); one global layer (5); no freq_base_swa key.
    "tiny_f32": dict(n_layer=7, n_embd=48, n_ff=80, n_head=2, n_head_kv=1, head_dim=32, window=8,
                     rope_factor=None, write_base_swa=False, seed=1234,
                     types={"attn": "F32", "ffn_up_gate": "F32", "ffn_down": "F32", "embd": "F32"}),
    # Q8_0 / F16 mix; two global layers (5, 11) with linear rope scaling 8; GQA group 2.
    "tiny_q8_0": dict(n_layer=12, n_embd=64, n_ff=64, n_head=4, n_head_kv=2, head_dim=32, window=8,
                      rope_factor=8.0, write_base_swa=True, seed=16,
                      types={"attn": "Q8_0", "ffn_up_gate": "F16", "ffn_down": "Q8_0", "embd": "Q8_0"}),
}

HTML_TAGS = ["table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"]
HTML_TAGS2 = ["h1", "h2", "h3", "h4", "h5", "h6", "blockquote"]
HTML_TAGS3 = ["strong", "em", "b", "i", "u", "s", "sub", "sup", "code"]
HTML_TAGS4 = ["a", "html", "body", "img", "span", "bbox", "ul", "li", "div", "iframe", "footer"]
# The 18 highest-ranked BPE pieces of the real Gemma 3 vocabulary (ids 494.., score = -rank).
FIRST_PIECES = ["▁t", "in", "▁a", "er", "on", "he", "re", "en", "at", "▁s", "or", "▁c", "▁the", "es",
                "an", "it", "▁p", "is"]
TT_NORMAL, TT_CONTROL, TT_USER, TT_BYTE = 1, 3, 4, 6


def tiny_vocab():
    """512 pieces laid out like Gemma 3's first 494 ids (gemma3.md §3) plus 18 BPE pieces."""
    toks, types = [], []

    def add(piece, ttype):
        toks.append(piece)
        types.append(ttype)

    for p in ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]:
        add(p, TT_CONTROL)
    add("[multimodal]", TT_USER)
    for i in range(99):  # ids 6..104
        add(f"<unused{i}>", TT_CONTROL)
    add("<start_of_turn>", TT_CONTROL)  # 105
    add("<end_of_turn>", TT_CONTROL)  # 106
    for n in range(1, 32):  # 107..137: runs of 1..31 newlines
        add("\n" * n, TT_USER)
    for n in range(2, 32):  # 138..167: runs of 2..31 spaces (stored with ' ' as llama.cpp does)
        add(" " * n, TT_USER)
    for group in (HTML_TAGS, HTML_TAGS2):  # 168..197
        for t in group:
            add(f"<{t}>", TT_USER)
        for t in group:
            add(f"</{t}>", TT_USER)
    for group in (HTML_TAGS3, HTML_TAGS4):  # 198..237
        for t in group:
            add(f"<{t}>", TT_USER)
        for t in group:
            add(f"</{t}>", TT_USER)
    assert len(toks) == 238, len(toks)
    for b in range(256):  # 238..493
        add(f"<0x{b:02X}>", TT_BYTE)
    for p in FIRST_PIECES:  # 494..511
        add(p, TT_NORMAL)
    scores = [-1000.0 if t in (TT_CONTROL, TT_USER) else 0.0 for t in types]
    for i in range(len(FIRST_PIECES)):
        scores[494 + i] = -float(i)
    return toks, scores, types


def make_config(v, n_vocab):
    full = {"rope_type": "default", "rope_theta": 1e6}
    if v["rope_factor"]:
        full = {"rope_type": "linear", "factor": v["rope_factor"], "rope_theta": 1e6}
    return Gemma3TextConfig(
        vocab_size=n_vocab, hidden_size=v["n_embd"], intermediate_size=v["n_ff"],
        num_hidden_layers=v["n_layer"], num_attention_heads=v["n_head"],
        num_key_value_heads=v["n_head_kv"], head_dim=v["head_dim"],
        query_pre_attn_scalar=v["head_dim"], sliding_window=v["window"],
        max_position_embeddings=1024, rms_norm_eps=1e-6,
        rope_parameters={"full_attention": full,
                         "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
        attn_implementation="eager", tie_word_embeddings=True)


def quant_roundtrip(arr, tname):
    """(bytes-or-array to write, dtype, the float32 values it decodes to)."""
    if tname == "F32":
        a = np.ascontiguousarray(arr, dtype=np.float32)
        return a, None, a
    if tname == "F16":
        a = np.ascontiguousarray(arr, dtype=np.float16)
        return a, None, a.astype(np.float32)
    qt = GGMLQuantizationType[tname]
    q = quantize(np.ascontiguousarray(arr, dtype=np.float32), qt)
    return q, qt, dequantize(q, qt).reshape(arr.shape).astype(np.float32)


def build_weights(model, v):
    """Fill model with seeded random weights; return {gguf name: (data, raw_dtype)} of the same values."""
    g = torch.Generator().manual_seed(v["seed"])
    tensors = {}

    def linear(mod, name, kind):
        out_f, in_f = mod.weight.shape
        w = (torch.randn(out_f, in_f, generator=g) / in_f ** 0.5).numpy()
        data, qt, deq = quant_roundtrip(w, v["types"][kind])
        mod.weight.data = torch.from_numpy(deq.copy())
        tensors[name] = (data, qt)

    def norm(mod, name):
        w = 0.5 * torch.randn(mod.weight.shape, generator=g)
        mod.weight.data = w.clone()
        tensors[name] = ((w + 1.0).numpy().astype(np.float32), None)  # +1 folded (gemma3.md §4.4)

    m = model.model
    e = (0.125 * torch.randn(m.embed_tokens.weight.shape, generator=g)).numpy()
    data, qt, deq = quant_roundtrip(e, v["types"]["embd"])
    m.embed_tokens.weight.data = torch.from_numpy(deq.copy())
    tensors["token_embd.weight"] = (data, qt)
    for i, layer in enumerate(m.layers):
        b = f"blk.{i}."
        a = layer.self_attn
        norm(layer.input_layernorm, b + "attn_norm.weight")
        linear(a.q_proj, b + "attn_q.weight", "attn")
        linear(a.k_proj, b + "attn_k.weight", "attn")
        linear(a.v_proj, b + "attn_v.weight", "attn")
        norm(a.q_norm, b + "attn_q_norm.weight")
        norm(a.k_norm, b + "attn_k_norm.weight")
        linear(a.o_proj, b + "attn_output.weight", "attn")
        norm(layer.post_attention_layernorm, b + "post_attention_norm.weight")
        norm(layer.pre_feedforward_layernorm, b + "ffn_norm.weight")
        linear(layer.mlp.gate_proj, b + "ffn_gate.weight", "ffn_up_gate")
        linear(layer.mlp.up_proj, b + "ffn_up.weight", "ffn_up_gate")
        linear(layer.mlp.down_proj, b + "ffn_down.weight", "ffn_down")
        norm(layer.post_feedforward_layernorm, b + "post_ffw_norm.weight")
    norm(m.norm, "output_norm.weight")
    model.tie_weights()
    return tensors


def write_gguf(path, name, v, tensors, vocab):
    toks, scores, types = vocab
    quantized = v["types"]["attn"] != "F32"
    w = GGUFWriter(path, "gemma3")
    w.add_name(name)
    w.add_file_type(7 if quantized else 0)  # llama_ftype: MOSTLY_Q8_0 / ALL_F32
    if quantized:
        w.add_quantization_version(2)
    w.add_context_length(1024)
    w.add_embedding_length(v["n_embd"])
    w.add_block_count(v["n_layer"])
    w.add_feed_forward_length(v["n_ff"])
    w.add_head_count(v["n_head"])
    w.add_head_count_kv(v["n_head_kv"])
    w.add_key_length(v["head_dim"])
    w.add_value_length(v["head_dim"])
    w.add_layer_norm_rms_eps(1e-6)
    w.add_sliding_window(v["window"])
    w.add_rope_freq_base(1e6)
    if v["write_base_swa"]:
        w.add_rope_freq_base_swa(1e4)
    if v["rope_factor"]:
        w.add_rope_scaling_type(RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(v["rope_factor"])
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    w.add_unk_token_id(3)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    for tname, (data, qt) in tensors.items():
        w.add_tensor(tname, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@torch.no_grad()
def hf_run(model, prompt, n_gen):
    """transformers logits for every prompt position and a greedy continuation (full recompute per step)."""
    ids = torch.tensor([prompt])
    prompt_logits = model(input_ids=ids, use_cache=False).logits[0].numpy()
    gen, rows = [], []
    row = prompt_logits[-1]
    for _ in range(n_gen):
        tok = int(np.argmax(row))
        gen.append(tok)
        rows.append(row)
        ids = torch.cat([ids, torch.tensor([[tok]])], dim=1)
        row = model(input_ids=ids, use_cache=False).logits[0, -1].numpy()
    return prompt_logits, np.array(gen), np.stack(rows)


def check_variant(name, v, write):
    vocab = tiny_vocab()
    n_vocab = len(vocab[0])
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(make_config(v, n_vocab)).eval().float()
    tensors = build_weights(model, v)
    rng = np.random.default_rng(v["seed"])
    prompt = [2] + rng.integers(5, n_vocab, N_PROMPT - 1).tolist()
    hf_logits, hf_gen, hf_gen_rows = hf_run(model, prompt, N_GEN)

    os.makedirs(OUT_DIR, exist_ok=True)
    gguf_path = os.path.join(OUT_DIR, name + ".gguf") if write else f"/tmp/{name}.gguf"
    write_gguf(gguf_path, name, v, tensors, vocab)
    ref = gemma3_ref.Gemma3Ref(gguf_path, cache_dir=None)

    d_prefill = np.abs(ref.logits(prompt) - hf_logits).max()
    # Token-by-token with the KV cache: exercises the cache and the sliding mask one query at a time.
    cache = gemma3_ref.KVCache(ref.hp.n_layer)
    step = np.concatenate([ref.logits([t], cache) for t in prompt])
    d_step = np.abs(step - hf_logits).max()
    ref_gen, ref_rows = ref.generate(prompt, N_GEN)
    d_gen = np.abs(ref_rows - hf_gen_rows).max()
    same_gen = np.array_equal(ref_gen, hf_gen)
    margins = [uelg.topk(r, 2)[1] for r in hf_gen_rows]
    min_margin = min(float(m[0] - m[1]) for m in margins)
    print(f"{name}: {os.path.getsize(gguf_path)} bytes gguf; logit range "
          f"[{hf_logits.min():.3f}, {hf_logits.max():.3f}]; max|diff| prefill {d_prefill:.3g}, "
          f"per-token {d_step:.3g}, generation {d_gen:.3g}; greedy ids equal: {same_gen} "
          f"(min top-2 margin {min_margin:.3g})")
    ok = max(d_prefill, d_step, d_gen) < TOLERANCE and same_gen
    if write and ok:
        s = uelg.Summary(prompt, TOP_K, range(len(prompt)), range(n_vocab), n_vocab)
        s.add_rows(0, hf_logits)
        s.set_generation(hf_gen, hf_gen_rows)
        s.write(os.path.join(OUT_DIR, name + ".uelg"))
    return ok, max(d_prefill, d_step, d_gen)


REAL_TOLERANCE = 2e-3  # real model: logits reach ~30, fp32 sums over 18 layers, 262144 outputs
REAL_PROMPT = os.path.join("tests", "fixtures", "logits", "long_gpl3.uelg")


@torch.no_grad()
def check_real(path):
    """gemma3_ref.py vs transformers on a real GGUF's weights; returns (ok, max diff)."""
    ref = gemma3_ref.Gemma3Ref(path)
    hp = ref.hp
    if hp.rope_base_local != 1e4:
        raise ValueError("transformers config below assumes local rope base 10000")
    full = {"rope_type": "default", "rope_theta": hp.rope_base_global}
    if hp.rope_scale_global != 1.0:
        full = {"rope_type": "linear", "factor": 1.0 / hp.rope_scale_global, "rope_theta": hp.rope_base_global}
    cfg = Gemma3TextConfig(
        vocab_size=ref.n_vocab, hidden_size=hp.n_embd, intermediate_size=hp.n_ff,
        num_hidden_layers=hp.n_layer, num_attention_heads=hp.n_head, num_key_value_heads=hp.n_head_kv,
        head_dim=hp.head_dim, query_pre_attn_scalar=hp.head_dim, sliding_window=hp.sliding_window,
        max_position_embeddings=32768, rms_norm_eps=hp.eps,
        rope_parameters={"full_attention": full, "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
        attn_implementation="eager", tie_word_embeddings=True)
    model = Gemma3ForCausalLM(cfg).eval().float()
    m, w = model.model, ref.w

    def put(param, name, minus_one=False):
        t = torch.from_numpy(np.array(w[name], dtype=np.float32))
        param.data = t - 1.0 if minus_one else t

    put(m.embed_tokens.weight, "token_embd.weight")
    put(m.norm.weight, "output_norm.weight", True)
    for i, layer in enumerate(m.layers):
        b, a = f"blk.{i}.", layer.self_attn
        for mod, n in [(a.q_proj, "attn_q"), (a.k_proj, "attn_k"), (a.v_proj, "attn_v"), (a.o_proj, "attn_output"),
                       (layer.mlp.gate_proj, "ffn_gate"), (layer.mlp.up_proj, "ffn_up"),
                       (layer.mlp.down_proj, "ffn_down")]:
            put(mod.weight, b + n + ".weight")
        for mod, n in [(layer.input_layernorm, "attn_norm"), (a.q_norm, "attn_q_norm"), (a.k_norm, "attn_k_norm"),
                       (layer.post_attention_layernorm, "post_attention_norm"),
                       (layer.pre_feedforward_layernorm, "ffn_norm"),
                       (layer.post_feedforward_layernorm, "post_ffw_norm")]:
            put(mod.weight, b + n + ".weight", True)
    model.tie_weights()
    ids = uelg.read(REAL_PROMPT)["prompt_ids"].tolist()
    hf = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    h = ref.hidden(ids)
    worst, worst_late = 0.0, 0.0
    for start in range(0, len(ids), 128):
        d = np.abs(ref.logits_from_hidden(h[start:start + 128]) - hf[start:start + 128].numpy()).max(axis=1)
        worst = max(worst, float(d.max()))
        late = d[max(0, hp.sliding_window - start):]
        worst_late = max(worst_late, float(late.max()) if late.size else 0.0)
    same_top1 = bool((hf.argmax(-1).numpy() == np.argmax(ref.logits_from_hidden(h), axis=1)).all())
    print(f"real {os.path.basename(path)}: {len(ids)} tokens; max|diff| all positions {worst:.3g}, "
          f"positions >= {hp.sliding_window}: {worst_late:.3g}; top-1 equal at every position: {same_top1}")
    return worst < REAL_TOLERANCE, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true", help="check only; GGUFs go to /tmp")
    ap.add_argument("--real", metavar="GGUF", help="also compare on this real gemma3 GGUF's weights")
    args = ap.parse_args()
    torch.set_num_threads(2)
    results = [check_variant(n, v, not args.no_write) for n, v in VARIANTS.items()]
    worst = max(d for _, d in results)
    print(f"max |logit diff| over all variants: {worst:.3g} (tolerance {TOLERANCE})")
    if args.real:
        results.append(check_real(args.real))
    if not all(ok for ok, _ in results):
        print("FAIL: gemma3_ref.py disagrees with transformers")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
