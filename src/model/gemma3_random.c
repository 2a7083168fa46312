/* Random Gemma 3 GGUF files (see gemma3_random.h): shapes, llama.cpp's per-tensor type
 * rules (llama-quant.cpp as summarised in gemma3.md 5.1), metadata as llama.cpp's
 * converter writes it (gemma3.md 4.2), and streamed generation: each row's values come
 * from a counter-based generator keyed by (seed, tensor, row), so the output does not
 * depend on the thread count or the chunking. */
#include "model/gemma3_random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/quantize.h"
#include "core/threadpool.h"

/* The tiny shape exercises both layer kinds (layer 5 is global), GQA, linear RoPE
 * scaling and, in Q4_K_M, every fallback (rows of 64 are not a multiple of 256). */
static const ue_gemma3_shape k_shapes[] = {
    {"tiny", "tiny", 64, 6, 2, 1, 32, 256, 262144, 2048, 16, 8.0f},
    {"270m", "270M", 640, 18, 4, 1, 256, 2048, 262144, 32768, 512, 0.0f},
    {"1b", "1B", 1152, 26, 4, 1, 256, 6912, 262144, 32768, 512, 0.0f},
    {"4b", "4B", 2560, 34, 8, 4, 256, 10240, 262208, 131072, 1024, 8.0f},
    {"12b", "12B", 3840, 48, 16, 8, 256, 15360, 262208, 131072, 1024, 8.0f},
    {"27b", "27B", 5376, 62, 32, 16, 128, 21504, 262208, 131072, 1024, 8.0f},
};

const ue_gemma3_shape *ue_gemma3_shape_find(const char *name) {
    for (size_t i = 0; name && i < sizeof k_shapes / sizeof k_shapes[0]; i++)
        if (!strcasecmp(name, k_shapes[i].name)) return &k_shapes[i];
    return NULL;
}

const char *ue_gemma3_shape_names(void) { return "tiny|270m|1b|4b|12b|27b"; }

static const struct {
    const char *name;
    ue_type base;       /* type of an ordinary 2-D weight */
    uint32_t file_type; /* llama_ftype */
} k_ftypes[UE_GEMMA3_FTYPE_COUNT] = {
    [UE_GEMMA3_Q4_K_M] = {"q4_k_m", UE_TYPE_Q4_K, 15},
    [UE_GEMMA3_Q4_0] = {"q4_0", UE_TYPE_Q4_0, 2},
    [UE_GEMMA3_Q8_0] = {"q8_0", UE_TYPE_Q8_0, 7},
    [UE_GEMMA3_F16] = {"f16", UE_TYPE_F16, 1},
    [UE_GEMMA3_BF16] = {"bf16", UE_TYPE_BF16, 32},
};

int ue_gemma3_ftype_parse(const char *s) {
    for (int i = 0; s && i < UE_GEMMA3_FTYPE_COUNT; i++)
        if (!strcasecmp(s, k_ftypes[i].name)) return i;
    return -1;
}

const char *ue_gemma3_ftype_name(ue_gemma3_ftype f) { return k_ftypes[f].name; }
const char *ue_gemma3_ftype_names(void) { return "q4_k_m|q4_0|q8_0|f16|bf16"; }
uint32_t ue_gemma3_ftype_file_type(ue_gemma3_ftype f) { return k_ftypes[f].file_type; }

/* llama.cpp's layer choice for the extra bits of Q4_K_M: the first and last eighth, and
 * every third layer in between. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int block_fits(ue_type t, int64_t ne0) { return ne0 % ue_type_get(t)->block_size == 0; }

ue_type ue_gemma3_tensor_type(ue_gemma3_ftype ftype, const char *name, uint32_t n_dims,
                              int64_t ne0, int n_layer) {
    if (n_dims < 2) return UE_TYPE_F32;
    ue_type base = k_ftypes[ftype].base, t = base;
    if (ftype == UE_GEMMA3_F16 || ftype == UE_GEMMA3_BF16 || ftype == UE_GEMMA3_Q8_0) return t;
    int layer = -1;
    const char *kind = name;
    if (!strncmp(name, "blk.", 4)) {
        layer = atoi(name + 4);
        const char *dot = strchr(name + 4, '.');
        kind = dot ? dot + 1 : name;
    }
    if (!strcmp(kind, "token_embd.weight")) /* tied: quantized as the output tensor */
        t = block_fits(base, ne0) ? UE_TYPE_Q6_K : UE_TYPE_Q8_0;
    else if (ftype == UE_GEMMA3_Q4_K_M && layer >= 0 &&
             (!strcmp(kind, "attn_v.weight") || !strcmp(kind, "ffn_down.weight")) &&
             use_more_bits(layer, n_layer))
        t = UE_TYPE_Q6_K;
    if (!block_fits(t, ne0)) {
        if (t == UE_TYPE_Q4_K) t = UE_TYPE_Q5_0;
        else if (t == UE_TYPE_Q5_K) t = UE_TYPE_Q5_1;
        else if (t == UE_TYPE_Q6_K) t = UE_TYPE_Q8_0;
        if (!block_fits(t, ne0)) t = UE_TYPE_F16;
    }
    return t;
}

int ue_gemma3_n_tensors(const ue_gemma3_shape *s) { return 2 + 13 * s->n_layer; }

/* Per-layer tensors in llama.cpp's (alphabetical) order: suffix, ne0, ne1 (0: 1-D). */
enum { D_EMBD, D_Q, D_KV, D_FF, D_HEAD };
static const struct {
    const char *suffix;
    int ne0, ne1; /* D_* or -1 */
} k_layer[13] = {
    {"attn_k", D_EMBD, D_KV},          {"attn_k_norm", D_HEAD, -1}, {"attn_norm", D_EMBD, -1},
    {"attn_output", D_Q, D_EMBD},      {"attn_q", D_EMBD, D_Q},     {"attn_q_norm", D_HEAD, -1},
    {"attn_v", D_EMBD, D_KV},          {"ffn_down", D_FF, D_EMBD},  {"ffn_gate", D_EMBD, D_FF},
    {"ffn_norm", D_EMBD, -1},          {"ffn_up", D_EMBD, D_FF},
    {"post_attention_norm", D_EMBD, -1}, {"post_ffw_norm", D_EMBD, -1},
};

static int64_t dim(const ue_gemma3_shape *s, int d) {
    switch (d) {
    case D_EMBD: return s->n_embd;
    case D_Q: return (int64_t)s->n_head * s->head_dim;
    case D_KV: return (int64_t)s->n_head_kv * s->head_dim;
    case D_FF: return s->n_ff;
    default: return s->head_dim;
    }
}

void ue_gemma3_tensor_spec_at(const ue_gemma3_shape *s, ue_gemma3_ftype ftype, int index,
                              ue_gemma3_tensor_spec *out) {
    memset(out, 0, sizeof *out);
    if (index == 0) {
        snprintf(out->name, sizeof out->name, "output_norm.weight");
        out->n_dims = 1;
        out->ne[0] = s->n_embd;
        out->ne[1] = 1;
    } else if (index == 1) {
        snprintf(out->name, sizeof out->name, "token_embd.weight");
        out->n_dims = 2;
        out->ne[0] = s->n_embd;
        out->ne[1] = s->n_vocab;
    } else {
        int il = (index - 2) / 13, k = (index - 2) % 13;
        snprintf(out->name, sizeof out->name, "blk.%d.%s.weight", il, k_layer[k].suffix);
        out->n_dims = k_layer[k].ne1 < 0 ? 1 : 2;
        out->ne[0] = dim(s, k_layer[k].ne0);
        out->ne[1] = k_layer[k].ne1 < 0 ? 1 : dim(s, k_layer[k].ne1);
    }
    out->type = ue_gemma3_tensor_type(ftype, out->name, out->n_dims, out->ne[0], s->n_layer);
}

static ue_status add_metadata(ue_gguf_writer *w, const ue_gemma3_random_params *p,
                              ue_error *err) {
    const ue_gemma3_shape *s = p->shape;
    char name[96];
    snprintf(name, sizeof name, "Gemma 3 %s random", s->size_label);
    uint32_t head = (uint32_t)s->head_dim;
    ue_status st;
    if ((st = ue_gguf_writer_add_str(w, "general.architecture", "gemma3", err)) ||
        (st = ue_gguf_writer_add_str(w, "general.type", "model", err)) ||
        (st = ue_gguf_writer_add_str(w, "general.name", name, err)) ||
        (st = ue_gguf_writer_add_str(w, "general.size_label", s->size_label, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.context_length", (uint32_t)s->n_ctx_train, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.embedding_length", (uint32_t)s->n_embd, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.block_count", (uint32_t)s->n_layer, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.feed_forward_length", (uint32_t)s->n_ff, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.attention.head_count", (uint32_t)s->n_head, err)) ||
        (st = ue_gguf_writer_add_f32(w, "gemma3.attention.layer_norm_rms_epsilon", 1e-6f, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.attention.key_length", head, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.attention.value_length", head, err)) ||
        (st = ue_gguf_writer_add_f32(w, "gemma3.rope.freq_base", 1e6f, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.attention.sliding_window",
                                     (uint32_t)s->sliding_window, err)) ||
        (st = ue_gguf_writer_add_u32(w, "gemma3.attention.head_count_kv", (uint32_t)s->n_head_kv,
                                     err)))
        return st;
    if (s->rope_scale > 0.0f &&
        ((st = ue_gguf_writer_add_str(w, "gemma3.rope.scaling.type", "linear", err)) ||
         (st = ue_gguf_writer_add_f32(w, "gemma3.rope.scaling.factor", s->rope_scale, err))))
        return st;
    if ((st = ue_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", err)) ||
        (st = ue_gguf_writer_add_str(w, "tokenizer.ggml.pre", "default", err)) ||
        (st = ue_gemma3_vocab_add(w, p->vocab_path, s->n_vocab, err)) ||
        (st = ue_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2, err)) ||
        (st = ue_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1, err)) ||
        (st = ue_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 3, err)) ||
        (st = ue_gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0, err)) ||
        (st = ue_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1, err)) ||
        (st = ue_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", 0, err)) ||
        (st = ue_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", 0, err)))
        return st;
    int quantized = p->ftype != UE_GEMMA3_F16 && p->ftype != UE_GEMMA3_BF16;
    if ((quantized && (st = ue_gguf_writer_add_u32(w, "general.quantization_version", 2, err))) ||
        (st = ue_gguf_writer_add_u32(w, "general.file_type", ue_gemma3_ftype_file_type(p->ftype),
                                     err)) ||
        (st = ue_gguf_writer_add_scalar(w, "unicorn.random_seed", UE_GGUF_U64, &p->seed, err)))
        return st;
    return UE_OK;
}

ue_status ue_gemma3_random_declare(const ue_gemma3_random_params *p, ue_gguf_writer **out,
                                   ue_error *err) {
    *out = NULL;
    if (!p->shape) return ue_fail(err, UE_ERR_ARGUMENT, "random model: no shape given");
    if ((unsigned)p->ftype >= UE_GEMMA3_FTYPE_COUNT)
        return ue_fail(err, UE_ERR_ARGUMENT, "random model: file type %d is not one of %s",
                       (int)p->ftype, ue_gemma3_ftype_names());
    ue_gguf_writer *w;
    ue_status st = ue_gguf_writer_create(0, &w, err);
    if (st != UE_OK) return st;
    if ((st = add_metadata(w, p, err)) != UE_OK) goto fail;
    for (int i = 0; i < ue_gemma3_n_tensors(p->shape); i++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(p->shape, p->ftype, i, &t);
        if ((st = ue_gguf_writer_add_tensor(w, t.name, t.type, t.n_dims, t.ne, err))) goto fail;
    }
    *out = w;
    return UE_OK;
fail:
    ue_gguf_writer_destroy(w);
    return st;
}

/* ---- data ---- */

static inline uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n values of mean `mean`, sd `sd`: the sum of four 16-bit uniforms (Irwin-Hall, bounded
 * by 3.46 sd) from one 64-bit draw each, which is close enough to normal for weights. */
static void gen_row(uint64_t key, float *x, int64_t n, float mean, float sd) {
    const float scale = sd * (1.7320508f / 65536.0f); /* sd of the sum: 65536 / sqrt(3) */
    uint64_t ctr = mix64(key);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = mix64(ctr += 0x9e3779b97f4a7c15ull);
        int32_t sum = (int32_t)(r & 0xffff) + (int32_t)((r >> 16) & 0xffff) +
                      (int32_t)((r >> 32) & 0xffff) + (int32_t)(r >> 48) - 131070;
        x[i] = mean + (float)sum * scale;
    }
}

typedef struct gen_job {
    const ue_gemma3_tensor_spec *t;
    uint64_t key;     /* seed and tensor index mixed */
    int64_t row0, n_rows;
    size_t row_bytes;
    uint8_t *out;
    float **scratch;  /* [n_threads] rows of ne0 floats */
    float mean, sd;
} gen_job;

static void gen_rows(void *ctx, int ith, int nth) {
    gen_job *j = ctx;
    long begin, end;
    ue_pool_split((long)j->n_rows, ith, nth, &begin, &end);
    for (long r = begin; r < end; r++) {
        uint64_t row = (uint64_t)(j->row0 + r);
        gen_row(j->key ^ mix64(row + 1), j->scratch[ith], j->t->ne[0], j->mean, j->sd);
        /* the arguments are checked up front: the row size is a whole number of blocks */
        ue_quantize_row(j->t->type, j->scratch[ith], j->out + (size_t)r * j->row_bytes,
                        j->t->ne[0], NULL);
    }
}

enum { CHUNK_ELEMENTS = 1 << 22 }; /* ~4M values per chunk: 16 MB of F32 at most */

static ue_status write_tensors(const ue_gemma3_random_params *p, ue_gguf_writer *w,
                               ue_pool *pool, ue_error *err) {
    const ue_gemma3_shape *s = p->shape;
    int n_threads = ue_pool_n_threads(pool), n = ue_gemma3_n_tensors(s);
    int64_t max_ne0 = s->n_embd;
    if (s->n_ff > max_ne0) max_ne0 = s->n_ff;
    if ((int64_t)s->n_head * s->head_dim > max_ne0) max_ne0 = (int64_t)s->n_head * s->head_dim;
    uint64_t total = ue_gguf_writer_file_size(w), done = 0;
    size_t out_cap = (size_t)CHUNK_ELEMENTS * 4 + (size_t)max_ne0 * 4;
    uint8_t *out = malloc(out_cap);
    float **scratch = calloc((size_t)n_threads, sizeof *scratch);
    ue_status st = UE_OK;
    if (!out || !scratch) st = ue_fail(err, UE_ERR_NOMEM, "random model: out of memory");
    for (int i = 0; st == UE_OK && i < n_threads; i++)
        if (!(scratch[i] = malloc((size_t)max_ne0 * sizeof(float))))
            st = ue_fail(err, UE_ERR_NOMEM, "random model: out of memory");
    for (int ti = 0; st == UE_OK && ti < n; ti++) {
        ue_gemma3_tensor_spec t;
        ue_gemma3_tensor_spec_at(s, p->ftype, ti, &t);
        if (!ue_quantize_supported(t.type)) {
            st = ue_fail(err, UE_ERR_UNSUPPORTED, "random model: %s: no quantizer for type %s",
                         t.name, ue_type_get(t.type)->name);
            break;
        }
        gen_job job = {.t = &t, .key = mix64(p->seed ^ mix64((uint64_t)ti + 0x51ed)),
                       .row_bytes = ue_type_row_bytes(t.type, t.ne[0]), .out = out,
                       .scratch = scratch, .mean = t.n_dims == 1 ? 1.0f : 0.0f, .sd = 0.02f};
        int64_t rows_per_chunk = CHUNK_ELEMENTS / t.ne[0];
        if (rows_per_chunk < 1) rows_per_chunk = 1;
        for (int64_t r0 = 0; st == UE_OK && r0 < t.ne[1]; r0 += rows_per_chunk) {
            job.row0 = r0;
            job.n_rows = t.ne[1] - r0 < rows_per_chunk ? t.ne[1] - r0 : rows_per_chunk;
            ue_pool_run(pool, gen_rows, &job);
            size_t bytes = (size_t)job.n_rows * job.row_bytes;
            st = ue_gguf_writer_write(w, out, bytes, err);
            done += bytes;
            if (p->progress) p->progress((double)done / (double)total, p->progress_user);
        }
    }
    for (int i = 0; scratch && i < n_threads; i++) free(scratch[i]);
    free(scratch);
    free(out);
    return st;
}

ue_status ue_gemma3_random_write(const ue_gemma3_random_params *p, const char *path,
                                 ue_error *err) {
    ue_gguf_writer *w = NULL;
    ue_pool *pool = NULL;
    FILE *f = NULL;
    int created = 0;
    ue_status st = ue_gemma3_random_declare(p, &w, err);
    if (st != UE_OK) return st;
    if ((st = ue_pool_create(p->n_threads > 0 ? p->n_threads : ue_cpu_count(), &pool, err)))
        goto done;
    f = fopen(path, "wb");
    if (!f) {
        st = ue_fail(err, UE_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    created = 1;
    if ((st = ue_gguf_writer_begin(w, f, err)) || (st = write_tensors(p, w, pool, err)) ||
        (st = ue_gguf_writer_end(w, err)))
        goto done;
    if (fclose(f) != 0) st = ue_fail(err, UE_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    f = NULL;
done:
    if (f) fclose(f);
    if (st != UE_OK && created) unlink(path);
    ue_gguf_writer_destroy(w);
    ue_pool_destroy(pool);
    return st;
}
