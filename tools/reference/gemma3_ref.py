"""Gemma 3 text decoder, reference implementation in numpy over a GGUF file.

Written from shared/docs/gemma3.md §1 (forward pass, RoPE, masks) and §4 (GGUF keys, tensor
names, +1 folded into norms); checked against Hugging Face transformers by
check_vs_transformers.py. Weights come from gguf.GGUFReader + gguf.quants.dequantize.

Numerics: weights are dequantized to float32 and every matmul runs in float32 (numpy BLAS).
Two cheap steps use float64 and are cast back to float32: the RoPE angles (position * inverse
frequency, so positions in the thousands keep full angle precision) and the mean of squares in
RMSNorm. Softmax subtracts the row max and runs in float32.
"""
import hashlib
import math
import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize

ARCH = "gemma3"
SWA_PERIOD = 6  # layer i is global (full attention) iff (i + 1) % 6 == 0; gemma3.md §1.1
DEFAULT_CACHE_DIR = os.path.join("/tmp", "gemma3_ref_cache")


def _field_value(field):
    """Scalar, string or array value of a GGUFReader field."""
    t = field.types[0]
    if t == GGUFValueType.ARRAY:
        if field.types[1] == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return np.array([field.parts[i][0] for i in field.data])
    if t == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    return field.parts[field.data[0]][0].item()


def read_metadata(reader):
    return {k: _field_value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}


class Hparams:
    """Shape and attention parameters of a gemma3 GGUF (gemma3.md §4.2)."""

    def __init__(self, md):
        if md.get("general.architecture") != ARCH:
            raise ValueError(f"general.architecture is {md.get('general.architecture')!r}, expected 'gemma3'")

        def req(key):
            if f"{ARCH}.{key}" not in md:
                raise ValueError(f"missing metadata key {ARCH}.{key}")
            return md[f"{ARCH}.{key}"]

        self.n_embd = int(req("embedding_length"))
        self.n_layer = int(req("block_count"))
        self.n_ff = int(req("feed_forward_length"))
        self.n_head = int(req("attention.head_count"))
        self.n_head_kv = int(md.get(f"{ARCH}.attention.head_count_kv", self.n_head))
        self.head_dim = int(md.get(f"{ARCH}.attention.key_length", self.n_embd // self.n_head))
        v_dim = int(md.get(f"{ARCH}.attention.value_length", self.head_dim))
        if v_dim != self.head_dim:
            raise ValueError(f"value_length {v_dim} != key_length {self.head_dim}")
        self.eps = float(req("attention.layer_norm_rms_epsilon"))
        self.sliding_window = int(md.get(f"{ARCH}.attention.sliding_window", 0))
        self.rope_base_global = float(md.get(f"{ARCH}.rope.freq_base", 10000.0))
        self.rope_base_local = float(md.get(f"{ARCH}.rope.freq_base_swa", 10000.0))
        factor = float(md.get(f"{ARCH}.rope.scaling.factor", 0.0) or 0.0)
        rtype = md.get(f"{ARCH}.rope.scaling.type", "linear")
        if factor not in (0.0, 1.0) and rtype != "linear":
            raise ValueError(f"rope.scaling.type {rtype!r} not supported (only linear)")
        self.rope_scale_global = 1.0 / factor if factor > 0.0 else 1.0
        self.rope_dim = int(md.get(f"{ARCH}.rope.dimension_count", self.head_dim))
        if self.rope_dim != self.head_dim:
            raise ValueError(f"rope.dimension_count {self.rope_dim} != head_dim {self.head_dim}")
        # Attention scale 1/sqrt(query_pre_attn_scalar): = head_dim for 270M/1B/4B/12B. The 27B
        # (head_dim 128, 62 layers, n_embd 5376) uses n_embd/n_head instead (gemma3.md §1.1).
        if self.head_dim == 128 and self.n_embd == 5376:
            self.attn_scale = 1.0 / math.sqrt(self.n_embd / self.n_head)
        else:
            self.attn_scale = 1.0 / math.sqrt(self.head_dim)
        if self.n_head % self.n_head_kv:
            raise ValueError(f"head_count {self.n_head} not a multiple of head_count_kv {self.n_head_kv}")

    def is_global(self, layer):
        return self.sliding_window <= 0 or (layer + 1) % SWA_PERIOD == 0


def _cache_key(path):
    st = os.stat(path)
    h = hashlib.sha256(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return h[:16]


def load_weights(reader, path, cache_dir):
    """All tensors as float32 arrays in row-major [rows=ne1, cols=ne0] (torch [out, in]) order.

    Dequantized arrays are cached as .npy under cache_dir (keyed by path, size and mtime) and
    memory-mapped on later runs; pass cache_dir=None to skip the cache.
    """
    cdir = os.path.join(cache_dir, _cache_key(path)) if cache_dir else None
    if cdir:
        os.makedirs(cdir, exist_ok=True)
    out = {}
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape))  # ggml ne=[ne0, ne1] -> (ne1, ne0)
        f = os.path.join(cdir, t.name + ".npy") if cdir else None
        if f and os.path.exists(f):
            arr = np.load(f, mmap_mode="r")
        else:
            arr = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
            if f:
                np.save(f + ".tmp.npy", arr)
                os.replace(f + ".tmp.npy", f)
        if arr.shape != shape:
            raise ValueError(f"tensor {t.name}: dequantized shape {arr.shape}, expected {shape}")
        out[t.name] = arr
    return out


def rms_norm(x, w, eps):
    """x / sqrt(mean(x^2) + eps) * w over the last axis; w already contains the +1 (gemma3.md §4.4)."""
    ms = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
    return (x * (1.0 / np.sqrt(ms + eps)).astype(np.float32)) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.float32(math.sqrt(2.0 / math.pi)) * (x + np.float32(0.044715) * x * x * x)))


def rope_neox(x, positions, base, scale):
    """Rotate-half RoPE over the last axis of x [..., n, d] at integer positions [n]."""
    d = x.shape[-1]
    half = d // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / d)
    ang = (np.asarray(positions, dtype=np.float64) * scale)[:, None] * inv_freq[None, :]
    cos = np.cos(ang).astype(np.float32)
    sin = np.sin(ang).astype(np.float32)
    x1 = x[..., :half]
    x2 = x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


class KVCache:
    """Post-RoPE keys and values of every layer for positions 0..n-1 ([n_head_kv, n, head_dim])."""

    def __init__(self, n_layer):
        self.k = [None] * n_layer
        self.v = [None] * n_layer
        self.n = 0

    def append(self, layer, k, v):
        if self.k[layer] is None:
            self.k[layer], self.v[layer] = k, v
        else:
            self.k[layer] = np.concatenate([self.k[layer], k], axis=1)
            self.v[layer] = np.concatenate([self.v[layer], v], axis=1)
        return self.k[layer], self.v[layer]


class Gemma3Ref:
    def __init__(self, path, cache_dir=DEFAULT_CACHE_DIR):
        reader = GGUFReader(path)
        self.metadata = read_metadata(reader)
        self.hp = Hparams(self.metadata)
        self.w = load_weights(reader, path, cache_dir)
        hp = self.hp
        self.embd = self.w["token_embd.weight"]  # [n_vocab, n_embd]
        self.out = self.w.get("output.weight", self.embd)  # tied when absent
        self.n_vocab = self.embd.shape[0]
        self._check_shapes()

    def _check_shapes(self):
        hp = self.hp
        q, kv = hp.n_head * hp.head_dim, hp.n_head_kv * hp.head_dim
        want = {"token_embd.weight": (self.n_vocab, hp.n_embd), "output_norm.weight": (hp.n_embd,)}
        for i in range(hp.n_layer):
            b = f"blk.{i}."
            want.update({
                b + "attn_norm.weight": (hp.n_embd,), b + "attn_q.weight": (q, hp.n_embd),
                b + "attn_k.weight": (kv, hp.n_embd), b + "attn_v.weight": (kv, hp.n_embd),
                b + "attn_q_norm.weight": (hp.head_dim,), b + "attn_k_norm.weight": (hp.head_dim,),
                b + "attn_output.weight": (hp.n_embd, q), b + "post_attention_norm.weight": (hp.n_embd,),
                b + "ffn_norm.weight": (hp.n_embd,), b + "ffn_gate.weight": (hp.n_ff, hp.n_embd),
                b + "ffn_up.weight": (hp.n_ff, hp.n_embd), b + "ffn_down.weight": (hp.n_embd, hp.n_ff),
                b + "post_ffw_norm.weight": (hp.n_embd,),
            })
        for name, shape in want.items():
            if name not in self.w:
                raise ValueError(f"missing tensor {name}")
            if self.w[name].shape != shape:
                raise ValueError(f"tensor {name}: shape {self.w[name].shape}, expected {shape}")

    def _attention(self, layer, x, positions, cache):
        hp, w = self.hp, self.w
        b = f"blk.{layer}."
        n = x.shape[0]
        h = rms_norm(x, w[b + "attn_norm.weight"], hp.eps)
        q = (h @ w[b + "attn_q.weight"].T).reshape(n, hp.n_head, hp.head_dim).transpose(1, 0, 2)
        k = (h @ w[b + "attn_k.weight"].T).reshape(n, hp.n_head_kv, hp.head_dim).transpose(1, 0, 2)
        v = (h @ w[b + "attn_v.weight"].T).reshape(n, hp.n_head_kv, hp.head_dim).transpose(1, 0, 2)
        q = rms_norm(q, w[b + "attn_q_norm.weight"], hp.eps)
        k = rms_norm(k, w[b + "attn_k_norm.weight"], hp.eps)
        if hp.is_global(layer):
            base, scale = hp.rope_base_global, hp.rope_scale_global
        else:
            base, scale = hp.rope_base_local, 1.0
        q = rope_neox(q, positions, base, scale) * np.float32(hp.attn_scale)
        k = rope_neox(k, positions, base, scale)
        k_all, v_all = cache.append(layer, k, v)  # [n_head_kv, n_past + n, head_dim]
        kpos = np.arange(k_all.shape[1])
        qpos = np.asarray(positions)
        visible = kpos[None, :] <= qpos[:, None]
        if not hp.is_global(layer):
            visible &= (qpos[:, None] - kpos[None, :]) < hp.sliding_window
        bias = np.where(visible, np.float32(0.0), np.float32(-np.inf)).astype(np.float32)
        group = hp.n_head // hp.n_head_kv
        out = np.empty((hp.n_head, n, hp.head_dim), dtype=np.float32)
        for hq in range(hp.n_head):
            hk = hq // group
            s = q[hq] @ k_all[hk].T + bias  # [n, n_keys]
            s -= s.max(axis=1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            out[hq] = p @ v_all[hk]
        a = out.transpose(1, 0, 2).reshape(n, hp.n_head * hp.head_dim) @ w[b + "attn_output.weight"].T
        return rms_norm(a, w[b + "post_attention_norm.weight"], hp.eps)

    def _ffn(self, layer, x):
        hp, w = self.hp, self.w
        b = f"blk.{layer}."
        h = rms_norm(x, w[b + "ffn_norm.weight"], hp.eps)
        g = gelu_tanh(h @ w[b + "ffn_gate.weight"].T) * (h @ w[b + "ffn_up.weight"].T)
        f = g @ w[b + "ffn_down.weight"].T
        return rms_norm(f, w[b + "post_ffw_norm.weight"], hp.eps)

    def hidden(self, tokens, cache=None):
        """Final-normed hidden states [n, n_embd] for tokens placed after cache.n earlier ones.

        One batched pass over all the new tokens (causal + sliding mask); cache is extended.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or tokens.size == 0:
            raise ValueError("tokens must be a non-empty 1-D sequence")
        if tokens.min() < 0 or tokens.max() >= self.n_vocab:
            raise ValueError(f"token id out of range [0, {self.n_vocab})")
        cache = cache if cache is not None else KVCache(self.hp.n_layer)
        positions = np.arange(cache.n, cache.n + tokens.size)
        x = np.asarray(self.embd[tokens], dtype=np.float32) * np.float32(math.sqrt(self.hp.n_embd))
        for layer in range(self.hp.n_layer):
            x = x + self._attention(layer, x, positions, cache)
            x = x + self._ffn(layer, x)
        cache.n += tokens.size
        return rms_norm(x, self.w["output_norm.weight"], self.hp.eps)

    def logits_from_hidden(self, h):
        return np.asarray(h, dtype=np.float32) @ self.out.T  # [n, n_vocab]

    def logits(self, tokens, cache=None):
        """Logits [n, n_vocab] for every position of tokens (batched prefill)."""
        return self.logits_from_hidden(self.hidden(tokens, cache))

    def generate(self, prompt, n_gen, cache=None):
        """Greedy continuation of prompt with a KV cache: returns (ids [n_gen], logits rows [n_gen, n_vocab]).

        Row i holds the logits that chose ids[i] (row 0 = last prompt position). Does not stop at
        <eos>/<end_of_turn>: always n_gen tokens.
        """
        cache = cache if cache is not None else KVCache(self.hp.n_layer)
        last = self.logits_from_hidden(self.hidden(prompt, cache)[-1:])[0]
        ids, rows = [], []
        for i in range(n_gen):
            tok = int(np.argmax(last))
            ids.append(tok)
            rows.append(last)
            if i + 1 < n_gen:
                last = self.logits_from_hidden(self.hidden([tok], cache))[0]
        return np.array(ids, dtype=np.int64), np.stack(rows)


def main(argv):
    if len(argv) < 3:
        print("usage: gemma3_ref.py MODEL.gguf TOKEN_ID [TOKEN_ID ...]  (prints greedy next 16 ids)")
        return 2
    model = Gemma3Ref(argv[1])
    ids, _ = model.generate([int(t) for t in argv[2:]], 16)
    print(" ".join(str(i) for i in ids))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
