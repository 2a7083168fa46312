"""UELG logit-fixture format: writer, reader and the top-k helper shared by the fixture scripts.

The byte layout is specified in tests/fixtures/logits/FORMAT.md (kept in sync with LAYOUT below).
Everything is little-endian; header fields are u32, ids/positions i32, logits f32; no padding.
"""
import struct

import numpy as np

MAGIC = b"UELG"
VERSION = 1
HEADER = struct.Struct("<4s7I")  # magic, version, n_prompt, top_k, n_full_pos, n_full_ids, n_gen, n_vocab

# (name, dtype, shape in terms of the header counts P, K, F, V, G), in file order.
LAYOUT = [
    ("prompt_ids", "<i4", ("P",)),
    ("top_ids", "<i4", ("P", "K")),
    ("top_logits", "<f4", ("P", "K")),
    ("margin", "<f4", ("P",)),
    ("full_pos", "<i4", ("F",)),
    ("full_ids", "<i4", ("V",)),
    ("full_logits", "<f4", ("F", "V")),
    ("gen_ids", "<i4", ("G",)),
    ("gen_top1", "<f4", ("G",)),
    ("gen_margin", "<f4", ("G",)),
]


def topk(row, k):
    """The k largest entries of a logits row: (ids, logits), descending logit, ties by lower id."""
    order = np.lexsort((np.arange(row.size), -row.astype(np.float64)))[:k]
    return order.astype(np.int32), row[order].astype(np.float32)


class Summary:
    """Accumulates what a UELG file holds from full logits rows, so callers never keep [P, n_vocab]."""

    def __init__(self, prompt_ids, top_k, full_pos, full_ids, n_vocab):
        p = len(prompt_ids)
        self.prompt_ids = np.asarray(prompt_ids, dtype=np.int32)
        self.top_k = top_k
        self.n_vocab = n_vocab
        self.top_ids = np.zeros((p, top_k), dtype=np.int32)
        self.top_logits = np.zeros((p, top_k), dtype=np.float32)
        self.full_pos = np.asarray(sorted(full_pos), dtype=np.int32)
        self.full_ids = np.asarray(sorted(full_ids), dtype=np.int32)
        self.full_logits = np.zeros((len(self.full_pos), len(self.full_ids)), dtype=np.float32)
        self.gen_ids = np.zeros(0, dtype=np.int32)
        self.gen_top1 = np.zeros(0, dtype=np.float32)
        self.gen_margin = np.zeros(0, dtype=np.float32)

    def add_rows(self, start, rows):
        """Logits rows [n, n_vocab] of prompt positions start..start+n-1."""
        for i, row in enumerate(rows):
            p = start + i
            self.top_ids[p], self.top_logits[p] = topk(row, self.top_k)
            hit = np.nonzero(self.full_pos == p)[0]
            if hit.size:
                self.full_logits[hit[0]] = row[self.full_ids]

    def set_generation(self, ids, rows):
        """Greedy ids [G] and the logits rows [G, n_vocab] each was chosen from."""
        self.gen_ids = np.asarray(ids, dtype=np.int32)
        tops = [topk(r, 2)[1] for r in rows]
        self.gen_top1 = np.array([t[0] for t in tops], dtype=np.float32)
        self.gen_margin = np.array([t[0] - t[1] for t in tops], dtype=np.float32)

    @property
    def margin(self):
        return self.top_logits[:, 0] - self.top_logits[:, 1]

    def write(self, path):
        counts = self._counts()
        with open(path, "wb") as f:
            f.write(HEADER.pack(MAGIC, VERSION, counts["P"], counts["K"], counts["F"], counts["V"],
                                counts["G"], self.n_vocab))
            for name, dtype, shape in LAYOUT:
                arr = np.ascontiguousarray(getattr(self, name), dtype=dtype)
                want = tuple(counts[s] for s in shape)
                if arr.shape != want:
                    raise ValueError(f"{name}: shape {arr.shape}, expected {want}")
                f.write(arr.tobytes())

    def _counts(self):
        return {"P": len(self.prompt_ids), "K": self.top_k, "F": len(self.full_pos),
                "V": len(self.full_ids), "G": len(self.gen_ids)}


def read(path):
    """Dict of header fields and arrays of a UELG file; raises ValueError on a malformed file."""
    data = open(path, "rb").read()
    if len(data) < HEADER.size:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than the {HEADER.size}-byte header")
    magic, version, p, k, f, v, g, n_vocab = HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"{path}: magic {magic!r} version {version}, expected {MAGIC!r} {VERSION}")
    counts = {"P": p, "K": k, "F": f, "V": v, "G": g}
    out = {"n_vocab": n_vocab, "top_k": k}
    off = HEADER.size
    for name, dtype, shape in LAYOUT:
        dims = tuple(counts[s] for s in shape)
        n = int(np.prod(dims))
        out[name] = np.frombuffer(data, dtype=dtype, count=n, offset=off).reshape(dims)
        off += 4 * n
    if off != len(data):
        raise ValueError(f"{path}: {len(data)} bytes, layout needs {off}")
    return out
