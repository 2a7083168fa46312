"""Writes tests/fixtures/vision/: a tiny random Gemma 3 vision-language model checked by
Hugging Face transformers, and what the C tests compare against.

Model: seeded random Gemma3ForConditionalGeneration (eager attention, fp32) -- SigLIP tower
hidden 48, 2 layers, 3 heads (head_dim 16), image 112 / patch 14 = 8x8 patches, 16 tokens per
image (2x2 average pool); text part 3 layers (F16 matrices), n_embd 64, window 24, the tiny Gemma-shaped
vocabulary of tools/reference/check_vs_transformers.py plus <start_of_image> (512),
<end_of_image> (513) and <image_soft_token> (514). Vision matrices are rounded to f16 before
transformers sees them, so both sides use the same numbers.
Files (arrays: see tests/fixtures/vision/README.md for the .bin layout):
  tiny_vl.gguf             text model (gemma3, F32, llama.cpp conventions)
  tiny_mmproj.gguf         llama.cpp-style mmproj (clip, projector gemma3, F16 matrices)
  tiny_mmproj_swapped.gguf the same with ffn_up / ffn_down names swapped (old converters)
  tiny_vl_ollama.gguf      one file: text + v.* / mm.* tensors, Ollama names, gemma3.vision.* keys
  img_*.png/jpg/gif/bmp/webp and rgb_*.bin  small test images and PIL's RGB for them
  pixels_*.bin             Gemma3ImageProcessorPil output (3 x 112 x 112) as the 8-bit values it
                           was computed from: pixel = (u8 / 255 - 0.5) / 0.5
  features_*.bin           image features after the projector (16 x 64)
  prompt_{two,panscan}_{ids,logits}.bin  token ids (-1 at soft tokens) and transformers' logits at
                           the last positions (all 67 for "two", the last 24 for "panscan")
Needs torch, transformers, Pillow, sentencepiece (not in CI). Run from the repo root:
    python3 tools/make_vision_fixtures.py
"""
import io
import os
import struct
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from PIL import Image
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig
from transformers.image_transforms import convert_to_rgb
from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import check_vs_transformers as cvt  # noqa: E402
import gguf_spm  # noqa: E402

OUT = os.path.join("tests", "fixtures", "vision")
BOI, EOI, SOFT = 512, 513, 514
V = dict(n_layer=3, n_embd=64, n_ff=96, n_head=4, n_head_kv=2, head_dim=16, window=24,
         rope_factor=None, write_base_swa=True, types={"attn": "F16", "ffn_up_gate": "F16",
                                                        "ffn_down": "F16", "embd": "F32"})
VIS = dict(hidden=48, ff=80, layers=2, heads=3, image=112, patch=14, tokens=16)
SPECIALS = ["<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>",
            "<image_soft_token>"]


def vocab():
    toks, scores, types = cvt.tiny_vocab()
    for p in ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]:
        toks.append(p)
        scores.append(-1000.0)
        types.append(cvt.TT_CONTROL)
    return toks, scores, types


def write_arr(name, arr):
    arr = np.ascontiguousarray(arr)
    dtype = {np.dtype(np.float32): 0, np.dtype(np.int32): 1, np.dtype(np.uint8): 2}[arr.dtype]
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"UEVF" + struct.pack("<II", dtype, arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape))
        f.write(arr.tobytes())


def make_model():
    text = Gemma3TextConfig(
        vocab_size=515, hidden_size=V["n_embd"], intermediate_size=V["n_ff"], num_hidden_layers=V["n_layer"],
        num_attention_heads=V["n_head"], num_key_value_heads=V["n_head_kv"], head_dim=V["head_dim"],
        query_pre_attn_scalar=V["head_dim"], sliding_window=V["window"], max_position_embeddings=1024,
        rms_norm_eps=1e-6,
        rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
        attn_implementation="eager", tie_word_embeddings=True)
    vision = SiglipVisionConfig(hidden_size=VIS["hidden"], intermediate_size=VIS["ff"],
                                num_hidden_layers=VIS["layers"], num_attention_heads=VIS["heads"],
                                image_size=VIS["image"], patch_size=VIS["patch"], layer_norm_eps=1e-6,
                                hidden_act="gelu_pytorch_tanh", vision_use_head=False,
                                attn_implementation="eager")
    cfg = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=VIS["tokens"],
                       boi_token_index=BOI, eoi_token_index=EOI, image_token_index=SOFT,
                       attn_implementation="eager", tie_word_embeddings=True)
    torch.manual_seed(0)
    return Gemma3ForConditionalGeneration(cfg).eval().float()


def f16(t):
    return t.to(torch.float16).to(torch.float32)


def fill(model):
    """Seeded random weights; returns (text tensors {gguf name: (data, qt)}, vision {hf name: np})."""
    g = torch.Generator().manual_seed(77)
    lm = model.model.language_model
    tensors = {}

    def rnd(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g)

    def lin(mod, name):
        w = f16(rnd(*mod.weight.shape, scale=mod.weight.shape[1] ** -0.5))
        mod.weight.data = w.clone()
        tensors[name] = (w.numpy().astype(np.float16), GGMLQuantizationType.F16)

    def norm(mod, name):
        w = rnd(*mod.weight.shape, scale=0.5)
        mod.weight.data = w.clone()
        tensors[name] = ((w + 1.0).numpy().astype(np.float32), None)

    e = rnd(*lm.embed_tokens.weight.shape, scale=0.125)
    lm.embed_tokens.weight.data = e.clone()
    tensors["token_embd.weight"] = (e.numpy().astype(np.float32), None)
    for i, layer in enumerate(lm.layers):
        b, a = f"blk.{i}.", layer.self_attn
        norm(layer.input_layernorm, b + "attn_norm.weight")
        lin(a.q_proj, b + "attn_q.weight")
        lin(a.k_proj, b + "attn_k.weight")
        lin(a.v_proj, b + "attn_v.weight")
        norm(a.q_norm, b + "attn_q_norm.weight")
        norm(a.k_norm, b + "attn_k_norm.weight")
        lin(a.o_proj, b + "attn_output.weight")
        norm(layer.post_attention_layernorm, b + "post_attention_norm.weight")
        norm(layer.pre_feedforward_layernorm, b + "ffn_norm.weight")
        lin(layer.mlp.gate_proj, b + "ffn_gate.weight")
        lin(layer.mlp.up_proj, b + "ffn_up.weight")
        lin(layer.mlp.down_proj, b + "ffn_down.weight")
        norm(layer.post_feedforward_layernorm, b + "post_ffw_norm.weight")
    norm(lm.norm, "output_norm.weight")

    vis = {}
    for name, p in list(model.model.vision_tower.named_parameters()) + \
            [("mm." + n, q) for n, q in model.model.multi_modal_projector.named_parameters()]:
        if name.endswith("patch_embedding.weight"):
            w = f16(rnd(*p.shape, scale=(p.shape[1] * p.shape[2] * p.shape[3]) ** -0.5))
        elif name.endswith("position_embedding.weight"):
            w = rnd(*p.shape, scale=0.5)
        elif "layer_norm" in name or "layernorm" in name:
            w = (1.0 + rnd(*p.shape, scale=0.2)) if name.endswith("weight") else rnd(*p.shape, scale=0.1)
        elif name.endswith("mm_soft_emb_norm.weight"):
            w = rnd(*p.shape, scale=0.5)
        elif name.endswith("mm_input_projection_weight"):
            w = f16(rnd(*p.shape, scale=p.shape[0] ** -0.5))
        elif name.endswith(".bias"):
            w = rnd(*p.shape, scale=0.1)
        else:  # linear weights [out, in]
            w = f16(rnd(*p.shape, scale=p.shape[1] ** -0.5))
        p.data = w.clone()
        vis[name] = w.numpy().astype(np.float32)
    model.tie_weights()
    return tensors, vis


def vision_tensors(vis, naming, swapped=False):
    """{gguf name: (array, dtype)} of the vision tower + projector in llama.cpp or Ollama naming."""
    ll = naming == "mmproj"
    out = {}
    f16t = GGMLQuantizationType.F16

    def put(name, arr, half=False):
        out[name] = (arr.astype(np.float16) if half else arr.astype(np.float32), f16t if half else None)

    pre = "embeddings."
    put("v.patch_embd.weight" if ll else "v.patch_embedding.weight", vis[pre + "patch_embedding.weight"], True)
    put("v.patch_embd.bias" if ll else "v.patch_embedding.bias", vis[pre + "patch_embedding.bias"])
    put("v.position_embd.weight" if ll else "v.position_embedding.weight", vis[pre + "position_embedding.weight"])
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.out_proj": "attn_out" if ll else "attn_output",
             "layer_norm1": "ln1" if ll else "layer_norm1", "layer_norm2": "ln2" if ll else "layer_norm2",
             "mlp.fc1": ("ffn_down" if swapped else "ffn_up") if ll else "mlp.fc1",
             "mlp.fc2": ("ffn_up" if swapped else "ffn_down") if ll else "mlp.fc2"}
    for i in range(VIS["layers"]):
        for hf, gg in names.items():
            for kind in ("weight", "bias"):
                arr = vis[f"encoder.layers.{i}.{hf}.{kind}"]
                put(f"v.blk.{i}.{gg}.{kind}", arr, kind == "weight" and "norm" not in hf)
    put("v.post_ln.weight" if ll else "v.post_layernorm.weight", vis["post_layernorm.weight"])
    put("v.post_ln.bias" if ll else "v.post_layernorm.bias", vis["post_layernorm.bias"])
    put("mm.soft_emb_norm.weight" if ll else "mm.mm_soft_emb_norm.weight", vis["mm.mm_soft_emb_norm.weight"] + 1.0)
    put("mm.input_projection.weight" if ll else "mm.mm_input_projection.weight",
        vis["mm.mm_input_projection_weight"], True)
    return out


def write_mmproj(path, vis, swapped=False):
    w = GGUFWriter(path, "clip")
    w.add_name("tiny mmproj")
    w.add_file_type(1)
    w.add_string("clip.projector_type", "gemma3")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.use_gelu", True)
    w.add_uint32("clip.vision.image_size", VIS["image"])
    w.add_uint32("clip.vision.patch_size", VIS["patch"])
    w.add_uint32("clip.vision.embedding_length", VIS["hidden"])
    w.add_uint32("clip.vision.feed_forward_length", VIS["ff"])
    w.add_uint32("clip.vision.block_count", VIS["layers"])
    w.add_uint32("clip.vision.attention.head_count", VIS["heads"])
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_uint32("clip.vision.projection_dim", V["n_embd"])
    w.add_uint32("clip.vision.projector.scale_factor", (VIS["image"] // VIS["patch"]) // int(VIS["tokens"] ** 0.5))
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    for name, (arr, qt) in vision_tensors(vis, "mmproj", swapped).items():
        w.add_tensor(name, arr, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_text(path, tensors, voc, vis=None):
    """The text GGUF via check_vs_transformers' writer; with vis, Ollama's one-file layout."""
    if vis is None:
        cvt.write_gguf(path, "tiny vl", V, tensors, voc)
        return
    extra = dict(tensors)
    extra.update(vision_tensors(vis, "ollama"))
    orig = GGUFWriter.write_header_to_file

    def header(self, *a, **k):
        self.add_uint32("gemma3.vision.block_count", VIS["layers"])
        self.add_uint32("gemma3.vision.embedding_length", VIS["hidden"])
        self.add_uint32("gemma3.vision.feed_forward_length", VIS["ff"])
        self.add_uint32("gemma3.vision.image_size", VIS["image"])
        self.add_uint32("gemma3.vision.patch_size", VIS["patch"])
        self.add_uint32("gemma3.vision.num_channels", 3)
        self.add_uint32("gemma3.vision.attention.head_count", VIS["heads"])
        self.add_float32("gemma3.vision.attention.layer_norm_epsilon", 1e-6)
        self.add_uint32("gemma3.mm.tokens_per_image", VIS["tokens"])
        return orig(self, *a, **k)

    GGUFWriter.write_header_to_file = header
    try:
        cvt.write_gguf(path, "tiny vl ollama", V, extra, voc)
    finally:
        GGUFWriter.write_header_to_file = orig


def tokenize(sp, text):
    """Splits on the control pieces (inserted by id) and encodes the rest with SentencePiece."""
    ids, i = [], 0
    ctl = {"<bos>": 2, "<start_of_turn>": 105, "<end_of_turn>": 106, "<start_of_image>": BOI,
           "<end_of_image>": EOI, "<image_soft_token>": SOFT}
    while i < len(text):
        j = min([(text.find(s, i), s) for s in SPECIALS if text.find(s, i) >= 0] or [(len(text), None)])
        if j[0] > i:
            ids += sp.encode(text[i:j[0]])
        if j[1] is None:
            break
        ids.append(ctl[j[1]])
        i = j[0] + len(j[1])
    return ids


def make_images():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:60, 0:90]
    a = np.stack([(xx * 2.8) % 256, (yy * 4.1) % 256, ((xx + yy) * 1.7) % 256,
                  np.clip(255 - yy * 3 + rng.integers(-20, 20, yy.shape), 0, 255)], -1).astype(np.uint8)
    Image.fromarray(a, "RGBA").save(os.path.join(OUT, "img_a.png"))
    yy, xx = np.mgrid[0:130, 0:150]
    b = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 100 * np.cos(yy / 7.0), (xx * yy) % 256], -1)
    Image.fromarray(b.astype(np.uint8)).save(os.path.join(OUT, "img_b.jpg"), quality=90)
    yy, xx = np.mgrid[0:280, 0:640]
    c = np.stack([(xx / 640 * 255), 128 + 90 * np.sin(yy / 11.0), 255 - xx / 640 * 200], -1)
    Image.fromarray(c.astype(np.uint8)).save(os.path.join(OUT, "img_wide.jpg"), quality=85)
    # decoder fixtures: one small picture in every format, and PIL's RGB for each
    yy, xx = np.mgrid[0:21, 0:33]
    small = np.stack([xx * 7 % 256, yy * 11 % 256, (xx * yy * 3) % 256, 64 + (xx * 5 % 192)], -1).astype(np.uint8)
    im = Image.fromarray(small, "RGBA")
    files = {"img_s.gif": im.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=32),
             "img_s.bmp": im.convert("RGB"), "img_s_lossless.webp": im, "img_s_gray.png": im.convert("L"),
             "img_s_pal.png": im.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=16)}
    for name, pic in files.items():
        kw = {"lossless": True} if name.endswith(".webp") else {}
        pic.save(os.path.join(OUT, name), **kw)
    ex = Image.Exif()
    ex[0x0112] = 6
    Image.fromarray(small[:, :, :3]).save(os.path.join(OUT, "img_s_exif6.jpg"), quality=95, exif=ex)
    for name in list(files) + ["img_s_exif6.jpg", "img_a.png", "img_b.jpg"]:
        pic = Image.open(os.path.join(OUT, name))
        if name.endswith("exif6.jpg"):
            from PIL import ImageOps
            pic = ImageOps.exif_transpose(pic)
        rgb = convert_to_rgb(pic, return_numpy=True)
        write_arr("rgb_" + name.replace(".", "_") + ".bin", rgb.astype(np.uint8))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    voc = vocab()
    model = make_model()
    tensors, vis = fill(model)
    write_text(os.path.join(OUT, "tiny_vl.gguf"), tensors, voc)
    write_text(os.path.join(OUT, "tiny_vl_ollama.gguf"), tensors, voc, vis)
    write_mmproj(os.path.join(OUT, "tiny_mmproj.gguf"), vis)
    write_mmproj(os.path.join(OUT, "tiny_mmproj_swapped.gguf"), vis, swapped=True)
    make_images()

    proc = Gemma3ImageProcessorPil(size={"height": VIS["image"], "width": VIS["image"]},
                                   image_mean=[0.5] * 3, image_std=[0.5] * 3, do_pan_and_scan=False,
                                   pan_and_scan_min_crop_size=256, pan_and_scan_max_num_crops=4,
                                   pan_and_scan_min_ratio_to_activate=1.2)
    imgs = {k: Image.open(os.path.join(OUT, f)) for k, f in [("a", "img_a.png"), ("b", "img_b.jpg"),
                                                             ("wide", "img_wide.jpg")]}
    pix = {k: proc(images=[convert_to_rgb(v, return_numpy=True)], return_tensors="pt")["pixel_values"]
           for k, v in imgs.items()}
    with torch.no_grad():
        for k in ("a", "b"):
            # pixel = (u8 / 255 - 0.5) / 0.5 exactly, so the resized 8-bit image is stored
            p = pix[k][0].numpy()
            u8 = np.round((p * 0.5 + 0.5) * 255).astype(np.uint8)
            assert np.abs((u8.astype(np.float32) / 255 - 0.5) / 0.5 - p).max() < 1e-6
            write_arr(f"pixels_{k}.bin", u8)
            feats = model.model.get_image_features(pix[k], return_dict=True).pooler_output[0]
            write_arr(f"features_{k}.bin", feats.numpy().astype(np.float32))

    meta = {"tokenizer.ggml.tokens": voc[0], "tokenizer.ggml.scores": voc[1], "tokenizer.ggml.token_type": voc[2]}
    sp = gguf_spm.build(meta)
    soft = "<start_of_image>" + "<image_soft_token>" * VIS["tokens"] + "<end_of_image>"
    seq = "\n\n" + soft + "\n\n"
    prompts = {
        "two": ("<start_of_turn>user\n<start_of_image><start_of_image>Describe these two.<end_of_turn>\n"
                "<start_of_turn>model\n", [pix["a"], pix["b"]], False),
        "panscan": ("<start_of_turn>user\n<start_of_image>What is in it?<end_of_turn>\n<start_of_turn>model\n",
                    None, True),
    }
    for name, (text, pv, pan) in prompts.items():
        if pan:
            out = proc(images=[convert_to_rgb(imgs["wide"], return_numpy=True)], do_pan_and_scan=True,
                       return_tensors="pt")
            n_crops = int(out["num_crops"][0])
            assert n_crops == 2, n_crops
            pv = out["pixel_values"]
            rep = ("Here is the original image " + seq + " and here are some crops to help you see better "
                   + " ".join([seq] * n_crops))
            expanded = text.replace("<start_of_image>", rep)
        else:
            pv = torch.cat(pv)
            expanded = text.replace("<start_of_image>", seq)
        ids = [2] + tokenize(sp, expanded)
        tt = torch.tensor([[1 if t == SOFT else 0 for t in ids]])
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), pixel_values=pv, token_type_ids=tt).logits[0].numpy()
        marked = np.array([-1 if t == SOFT else t for t in ids], dtype=np.int32)
        write_arr(f"prompt_{name}_ids.bin", marked)
        keep = 24 if pan else len(ids)  # the last positions (size); all for "two"
        write_arr(f"prompt_{name}_logits.bin", logits[-keep:].astype(np.float32))
        print(f"{name}: {len(ids)} tokens, logit range [{logits.min():.3f}, {logits.max():.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
