#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_gguf.c into fuzz/seeds/gguf/: a few tiny GGUF files
made with the reference `gguf` Python writer (so the seeds come from a second,
independent implementation), covering every value type, string arrays, a custom
alignment, several tensor types and a version-2 header.

    python3 tools/make_gguf_seeds.py
"""
import os
import sys

import numpy as np
import gguf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "seeds", "gguf")
VT = gguf.GGUFValueType


def write(name, build, alignment=None, version=None):
    path = os.path.join(OUT, name)
    w = gguf.GGUFWriter(path, "gemma3")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if version is not None:  # v2 has the same layout as v3 with 64-bit counts
        with open(path, "r+b") as f:
            f.seek(4)
            f.write(version.to_bytes(4, "little"))
    print(f"{path}: {os.path.getsize(path)} bytes")


def all_types(w):
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 1e-6)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "hello \u2581world")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**40))
    w.add_float64("t.f64", 3.25)
    w.add_array("a.str", ["<pad>", "<eos>", "", "\u2581a"])
    w.add_array("a.i32", [1, -2, 3])
    w.add_array("a.f32", [0.5, -1.5])
    w.add_array("a.bool", [True, False, True])
    w.add_key_value("a.u8", [1, 2, 3], VT.ARRAY, sub_type=VT.UINT8)
    w.add_key_value("a.u64", [1, 2**64 - 1], VT.ARRAY, sub_type=VT.UINT64)
    w.add_tensor("a.weight", np.arange(8, dtype=np.float32).reshape(2, 4))
    w.add_tensor("b.weight", np.arange(16, dtype=np.float16))


def quant_tensors(w):
    w.add_uint32("gemma3.block_count", 1)
    w.add_array("tokenizer.ggml.tokens", ["a", "b"])
    q8 = np.zeros((1, 34), dtype=np.uint8)  # one Q8_0 block of 32 elements
    w.add_tensor("q8.weight", q8, raw_shape=(1, 34), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    q4k = np.zeros((1, 144), dtype=np.uint8)  # one Q4_K block of 256 elements
    w.add_tensor("q4k.weight", q4k, raw_shape=(1, 144), raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    w.add_tensor("norm.weight", np.ones(4, dtype=np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    write("all_types.gguf", all_types)
    write("quant.gguf", quant_tensors, alignment=64)
    write("v2.gguf", quant_tensors, version=2)
    write("no_tensors.gguf", lambda w: w.add_string("general.name", "x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
