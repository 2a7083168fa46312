"""Writes random-weight GGUFs with Gemma 3 4B's vision shapes, for timing image encoding
(docs/PERFORMANCE.md, "Vision") in unicorn and in llama.cpp's mtmd on the same files:
  OUT/mmproj-4b-random-f16.gguf  llama.cpp-style mmproj: 27 SigLIP layers, 1152 wide, 896 px,
                                 F16 matrices, F32 rest (~0.8 GB)
  OUT/text-4b-width-random.gguf  a gemma3 text model of 4B width (n_embd 2560, 8/4 heads of 256,
                                 FFN 10240) but 1 layer, with the vocabulary copied from
                                 VOCAB_GGUF (any Gemma 3 GGUF), F16 (~1.4 GB): both engines need
                                 a text model whose width matches the projector.
Weights are uniform with variance 1/fan_in (norms around 1), so activations stay O(1).
Run: python3 tools/make_random_vision_4b.py OUT_DIR [VOCAB_GGUF]  (default vocab: the 270M model)
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

F16 = GGMLQuantizationType.F16
RNG = np.random.default_rng(4)


def uni(shape, fan_in, dtype=np.float16):
    a = np.sqrt(3.0 / fan_in)
    return RNG.uniform(-a, a, size=shape).astype(np.float32).astype(dtype)


def around(n, center, scale):
    return (center + scale * RNG.uniform(-1, 1, size=n)).astype(np.float32)


def write_mmproj(path):
    d, ff, layers, p = 1152, 4304, 27, 14
    w = GGUFWriter(path, "clip")
    w.add_name("random gemma3 4B-shaped mmproj")
    w.add_file_type(1)
    w.add_string("clip.projector_type", "gemma3")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.use_gelu", True)
    for k, v in [("image_size", 896), ("patch_size", p), ("embedding_length", d), ("feed_forward_length", ff),
                 ("block_count", layers), ("attention.head_count", 16), ("projection_dim", 2560)]:
        w.add_uint32("clip.vision." + k, v)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_tensor("v.patch_embd.weight", uni((d, 3, p, p), 3 * p * p), raw_dtype=F16)
    w.add_tensor("v.patch_embd.bias", around(d, 0, 0.1))
    w.add_tensor("v.position_embd.weight", around(4096 * d, 0, 0.5).reshape(4096, d))
    for i in range(layers):
        b = f"v.blk.{i}."
        for m in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.add_tensor(b + m + ".weight", uni((d, d), d), raw_dtype=F16)
            w.add_tensor(b + m + ".bias", around(d, 0, 0.1))
        for m in ("ln1", "ln2"):
            w.add_tensor(b + m + ".weight", around(d, 1, 0.2))
            w.add_tensor(b + m + ".bias", around(d, 0, 0.1))
        w.add_tensor(b + "ffn_up.weight", uni((ff, d), d), raw_dtype=F16)
        w.add_tensor(b + "ffn_up.bias", around(ff, 0, 0.1))
        w.add_tensor(b + "ffn_down.weight", uni((d, ff), ff), raw_dtype=F16)
        w.add_tensor(b + "ffn_down.bias", around(d, 0, 0.1))
    w.add_tensor("v.post_ln.weight", around(d, 1, 0.2))
    w.add_tensor("v.post_ln.bias", around(d, 0, 0.1))
    w.add_tensor("mm.soft_emb_norm.weight", around(d, 1, 0.2))
    w.add_tensor("mm.input_projection.weight", uni((d, 2560), d), raw_dtype=F16)  # HF [1152, 2560]
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_text(path, vocab_path):
    r = GGUFReader(vocab_path)
    w = GGUFWriter(path, "gemma3")
    w.add_name("random gemma3 4B-width text model (1 layer)")
    w.add_file_type(1)
    n_embd, n_ff, n_head, n_kv, hd = 2560, 10240, 8, 4, 256
    w.add_context_length(131072)
    w.add_embedding_length(n_embd)
    w.add_block_count(1)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_sliding_window(1024)
    w.add_rope_freq_base(1e6)
    n_vocab = 0
    for f in r.fields.values():
        if not f.name.startswith("tokenizer."):
            continue
        t = f.types[0]
        if t == GGUFValueType.ARRAY:
            et = f.types[-1]
            vals = [bytes(f.parts[i]).decode("utf-8") if et == GGUFValueType.STRING else f.parts[i][0].item()
                    for i in f.data]
            if f.name == "tokenizer.ggml.tokens":
                n_vocab = len(vals)
            w.add_array(f.name, vals)
        elif t == GGUFValueType.STRING:
            w.add_string(f.name, bytes(f.parts[f.data[0]]).decode("utf-8"))
        else:
            w.add_key_value(f.name, f.parts[f.data[0]][0].item(), t)
    w.add_tensor("token_embd.weight", uni((n_vocab, n_embd), n_embd * 64), raw_dtype=F16)
    b = "blk.0."
    for name, shape in [("attn_q", (n_head * hd, n_embd)), ("attn_k", (n_kv * hd, n_embd)),
                        ("attn_v", (n_kv * hd, n_embd)), ("attn_output", (n_embd, n_head * hd)),
                        ("ffn_gate", (n_ff, n_embd)), ("ffn_up", (n_ff, n_embd)), ("ffn_down", (n_embd, n_ff))]:
        w.add_tensor(b + name + ".weight", uni(shape, shape[1]), raw_dtype=F16)
    for name, n in [("attn_norm", n_embd), ("attn_q_norm", hd), ("attn_k_norm", hd), ("post_attention_norm", n_embd),
                    ("ffn_norm", n_embd), ("post_ffw_norm", n_embd)]:
        w.add_tensor(b + name + ".weight", around(n, 1, 0.2))
    w.add_tensor("output_norm.weight", around(n_embd, 1, 0.2))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vision4b"
    vocab = sys.argv[2] if len(sys.argv) > 2 else os.path.join("models", "gemma-3-270m-q4_k_m.gguf")
    os.makedirs(out, exist_ok=True)
    write_mmproj(os.path.join(out, "mmproj-4b-random-f16.gguf"))
    write_text(os.path.join(out, "text-4b-width-random.gguf"), vocab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
