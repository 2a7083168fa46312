#!/usr/bin/env python3
"""Writes tests/fixtures/types/: reference data for tests/test_types.c.

- <TYPE>.bin for every type src/core/types.c can compute: random blocks whose fp16 scale
  fields hold finite values of sensible size (the last blocks of each file hold extreme
  scales: +-65504, +-2^-24, 2^-14, +-0), followed by gguf.quants.dequantize of them as
  float32. Layout: "UETF", u32 type id, u32 n_blocks, u32 block_size, u32 type_size,
  n_blocks * type_size block bytes, n_blocks * block_size little-endian float32.
  Q8_K has no gguf dequantizer; its expected values are d * qs in float32 here.
- f16_to_f32.bin: numpy's float16 -> float32 of all 65536 bit patterns (u32 bits each).
- quant_sizes.txt: "id name block_size type_size" for every entry of GGML_QUANT_SIZES.

Run from the repository root: python3 tools/make_type_fixtures.py (deterministic).
"""
import os
import struct

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize

OUT = os.path.join("tests", "fixtures", "types")

# Byte offsets of the fp16 scale fields in each block: (d-like fields, min-like fields).
HALF_FIELDS = {
    T.Q4_0: ([0], []), T.Q4_1: ([0], [2]), T.Q5_0: ([0], []), T.Q5_1: ([0], [2]),
    T.Q8_0: ([0], []), T.IQ4_NL: ([0], []),
    T.Q2_K: ([80], [82]), T.Q3_K: ([108], []), T.Q4_K: ([0], [2]), T.Q5_K: ([0], [2]),
    T.Q6_K: ([208], []),
}
N_BLOCKS = {T.Q4_0: 256, T.Q4_1: 256, T.Q5_0: 256, T.Q5_1: 256, T.Q8_0: 256, T.IQ4_NL: 256,
            T.Q2_K: 128, T.Q3_K: 128, T.Q4_K: 128, T.Q5_K: 128, T.Q6_K: 128, T.Q8_K: 32}
EXTREMES = [65504.0, -65504.0, 2.0 ** -24, -(2.0 ** -24), 2.0 ** -14, 0.0, -0.0, 1.0]


def random_scales(rng, n, lo, hi):
    mag = 10.0 ** rng.uniform(lo, hi, size=n)
    return (mag * rng.choice([-1.0, 1.0], size=n)).astype(np.float16)


def write_fixture(name, type_id, block_size, type_size, blocks, expected):
    n_blocks = len(blocks) // type_size
    assert len(blocks) == n_blocks * type_size
    expected = np.ascontiguousarray(expected, dtype="<f4").reshape(-1)
    assert expected.size == n_blocks * block_size
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(b"UETF" + struct.pack("<4I", type_id, n_blocks, block_size, type_size))
        f.write(bytes(blocks))
        f.write(expected.tobytes())


def quant_fixture(rng, qtype):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    n = N_BLOCKS[qtype]
    blocks = rng.integers(0, 256, size=(n, type_size), dtype=np.uint8)
    n_ext = len(EXTREMES)
    if qtype == T.Q8_K:
        d = (10.0 ** rng.uniform(-4, 0, size=n)).astype(np.float32)
        d[-4:] = [1e30, -1e-38, 0.0, 3.0e38 / 127]
        blocks[:, 0:4] = d.view(np.uint8).reshape(n, 4)
        qs = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
        expected = d.reshape(n, 1) * qs
    else:
        d_fields, m_fields = HALF_FIELDS[qtype]
        for off in d_fields:
            v = random_scales(rng, n, -4, -1)
            v[-n_ext:] = EXTREMES
            blocks[:, off:off + 2] = v.view(np.uint8).reshape(n, 2)
        for off in m_fields:
            v = random_scales(rng, n, -3, 0)
            v[-n_ext:] = EXTREMES[::-1]
            blocks[:, off:off + 2] = v.view(np.uint8).reshape(n, 2)
        expected = dequantize(blocks.reshape(-1), qtype)
    write_fixture(qtype.name, qtype.value, block_size, type_size, blocks.reshape(-1), expected)


def float_fixtures(rng):
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 1e-45, -1e-40, 3.4e38,
                         1.17549435e-38], dtype=np.float32)
    f32 = np.concatenate([specials, rng.standard_normal(502).astype(np.float32)])
    write_fixture("F32", T.F32.value, 1, 4, f32.view(np.uint8), dequantize(f32.view(np.uint8), T.F32))

    h = rng.integers(0, 65536, size=512, dtype=np.uint32).astype(np.uint16)
    h = h[(h & 0x7C00) != 0x7C00][:500]  # finite halves; NaN and inf are covered by the table
    h = np.concatenate([h, np.array([0x7C00, 0xFC00, 0x0001, 0x8001, 0x03FF, 0x7BFF], np.uint16)])
    write_fixture("F16", T.F16.value, 1, 2, h.view(np.uint8), dequantize(h.view(np.uint8), T.F16))

    b = rng.integers(0, 65536, size=512, dtype=np.uint32).astype(np.uint16)
    b = b[(b & 0x7F80) != 0x7F80][:500]
    b = np.concatenate([b, np.array([0x7F80, 0xFF80, 0x0001, 0x8000, 0x3F80, 0x7F7F], np.uint16)])
    write_fixture("BF16", T.BF16.value, 1, 2, b.view(np.uint8), dequantize(b.view(np.uint8), T.BF16))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20250601)
    float_fixtures(rng)
    for qtype in N_BLOCKS:
        quant_fixture(rng, qtype)

    table = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    table.view("<u4").tofile(os.path.join(OUT, "f16_to_f32.bin"))

    with open(os.path.join(OUT, "quant_sizes.txt"), "w") as f:
        for qtype, (bs, ts) in sorted(GGML_QUANT_SIZES.items(), key=lambda kv: kv[0].value):
            f.write(f"{qtype.value} {qtype.name} {bs} {ts}\n")


if __name__ == "__main__":
    main()
