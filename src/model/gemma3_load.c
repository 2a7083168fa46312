/* Gemma 3 loading: hyper-parameters from gemma3.* metadata (gemma3.md 4.2) and the
 * tensors of 4.3, each checked for presence, a computable type and its exact shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gemma3.h"

static ue_status read_hparams(const ue_gguf *g, ue_gemma3_hparams *hp, ue_error *err) {
    char arch[64] = "";
    ue_status st = ue_gguf_get_str(g, "general.architecture", 1, arch, sizeof arch, err);
    if (st != UE_OK) return st;
    if (strcmp(arch, "gemma3") != 0)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "general.architecture is '%s', expected 'gemma3'", arch);
    uint32_t n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_ctx = 0, window = 0;
    if ((st = ue_gguf_get_u32(g, "gemma3.block_count", 1, &n_layer, err)) ||
        (st = ue_gguf_get_u32(g, "gemma3.embedding_length", 1, &n_embd, err)) ||
        (st = ue_gguf_get_u32(g, "gemma3.feed_forward_length", 1, &n_ff, err)) ||
        (st = ue_gguf_get_u32(g, "gemma3.attention.head_count", 1, &n_head, err)) ||
        (st = ue_gguf_get_u32(g, "gemma3.context_length", 1, &n_ctx, err)))
        return st;
    uint32_t n_head_kv = n_head, key_len = 0, value_len = 0;
    float eps = 0.0f, base = 10000.0f, base_swa = 10000.0f, factor = 0.0f;
    char scaling[32] = "linear";
    if ((st = ue_gguf_get_u32(g, "gemma3.attention.head_count_kv", 0, &n_head_kv, err)) ||
        (st = ue_gguf_get_u32(g, "gemma3.attention.sliding_window", 0, &window, err)) ||
        (st = ue_gguf_get_f32(g, "gemma3.attention.layer_norm_rms_epsilon", 1, &eps, err)) ||
        (st = ue_gguf_get_f32(g, "gemma3.rope.freq_base", 0, &base, err)) ||
        (st = ue_gguf_get_f32(g, "gemma3.rope.freq_base_swa", 0, &base_swa, err)) ||
        (st = ue_gguf_get_f32(g, "gemma3.rope.scaling.factor", 0, &factor, err)) ||
        (st = ue_gguf_get_str(g, "gemma3.rope.scaling.type", 0, scaling, sizeof scaling, err)))
        return st;
    if (n_layer < 1 || n_layer > 512)
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.block_count is %u, expected 1..512", n_layer);
    if (n_embd < 1 || n_embd > 65536)
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.embedding_length is %u, expected 1..65536",
                       n_embd);
    if (n_ff < 1 || n_ff > 262144)
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.feed_forward_length is %u, expected 1..262144",
                       n_ff);
    if (n_head < 1 || n_head > 1024)
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.attention.head_count is %u, expected 1..1024",
                       n_head);
    if (n_head_kv < 1 || n_head % n_head_kv != 0)
        return ue_fail(err, UE_ERR_FORMAT,
                       "gemma3.attention.head_count_kv is %u, expected a divisor of head_count %u",
                       n_head_kv, n_head);
    key_len = value_len = n_embd / n_head;
    if ((st = ue_gguf_get_u32(g, "gemma3.attention.key_length", 0, &key_len, err)) ||
        (st = ue_gguf_get_u32(g, "gemma3.attention.value_length", 0, &value_len, err)))
        return st;
    if (key_len != value_len)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "gemma3.attention.key_length %u differs from value_length %u", key_len,
                       value_len);
    if (key_len < 2 || key_len > 512 || key_len % 2)
        return ue_fail(err, UE_ERR_FORMAT,
                       "gemma3.attention.key_length is %u, expected an even number in 2..512",
                       key_len);
    if (!(eps > 0.0f && eps < 1.0f))
        return ue_fail(err, UE_ERR_FORMAT,
                       "gemma3.attention.layer_norm_rms_epsilon is %g, expected in (0, 1)", eps);
    if (!(base > 0.0f) || !isfinite(base) || !(base_swa > 0.0f) || !isfinite(base_swa))
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.rope.freq_base is %g / swa %g, expected > 0",
                       base, base_swa);
    if (strcmp(scaling, "linear") != 0 && strcmp(scaling, "none") != 0)
        return ue_fail(err, UE_ERR_UNSUPPORTED,
                       "gemma3.rope.scaling.type is '%s', expected 'linear' or 'none'", scaling);
    if (!isfinite(factor) || factor < 0.0f)
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.rope.scaling.factor is %g, expected >= 0",
                       factor);
    if (n_ctx < 1)
        return ue_fail(err, UE_ERR_FORMAT, "gemma3.context_length is 0, expected >= 1");

    hp->n_layer = (int)n_layer;
    hp->n_embd = (int)n_embd;
    hp->n_ff = (int)n_ff;
    hp->n_head = (int)n_head;
    hp->n_head_kv = (int)n_head_kv;
    hp->head_dim = (int)key_len;
    hp->n_ctx_train = n_ctx > (1u << 30) ? (1 << 30) : (int)n_ctx;
    hp->sliding_window = window > (1u << 30) ? (1 << 30) : (int)window;
    hp->eps = eps;
    hp->rope_base_global = base;
    hp->rope_base_local = base_swa;
    hp->rope_scale_global = (factor > 0.0f && strcmp(scaling, "linear") == 0) ? 1.0f / factor : 1.0f;
    /* Gemma 3 scales queries by query_pre_attn_scalar^-1/2: head_dim for every size but
     * 27B (62 layers), where it is n_embd / n_head. */
    int pre_attn = n_layer == 62 ? (int)(n_embd / n_head) : (int)key_len;
    hp->attn_scale = 1.0f / sqrtf((float)pre_attn);
    hp->embd_scale = sqrtf((float)n_embd);
    return UE_OK;
}

/* Finds `name`, checks its type is computable and its GGUF shape is [ne0, ne1] (ne1 = 0
 * for 1-D), and makes a view of it. norm: the tensor must be F32. */
static ue_status bind(const ue_gguf *g, ue_gemma3 *m, const char *name, int64_t ne0,
                      int64_t ne1, int norm, ue_tensor *out, ue_error *err) {
    const ue_gguf_tensor *t = ue_gguf_find_tensor(g, name);
    if (!t) return ue_fail(err, UE_ERR_FORMAT, "tensor '%s' is missing", name);
    const ue_type_traits *tr = ue_type_get((uint32_t)t->type);
    if (!tr || !tr->can_compute || !m->be->ops->supports(m->be, UE_OP_MATMUL, t->type))
        return ue_fail(err, UE_ERR_UNSUPPORTED, "tensor '%s': type %s is not supported", name,
                       tr ? tr->name : "?");
    if (norm && t->type != UE_TYPE_F32)
        return ue_fail(err, UE_ERR_UNSUPPORTED, "tensor '%s': type %s, expected F32", name,
                       tr->name);
    int64_t got1 = t->n_dims >= 2 ? t->ne[1] : 0;
    int extra = t->n_dims > 2 && (t->ne[2] != 1 || (t->n_dims > 3 && t->ne[3] != 1));
    if (t->ne[0] != ne0 || got1 != ne1 || extra) {
        char want[64], got[96];
        if (ne1)
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)ne0, (long long)ne1);
        else
            snprintf(want, sizeof want, "[%lld]", (long long)ne0);
        int n = snprintf(got, sizeof got, "[");
        for (uint32_t d = 0; d < t->n_dims && n < (int)sizeof got - 24; d++)
            n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", d ? ", " : "",
                          (long long)t->ne[d]);
        snprintf(got + n, sizeof got - (size_t)n, "]");
        return ue_fail(err, UE_ERR_FORMAT, "tensor '%s' has shape %s, expected %s", name, got,
                       want);
    }
    out->buf = m->weights; /* starts at the data section, where offsets count from */
    out->offset = (size_t)t->offset;
    out->type = t->type;
    out->ne[0] = ne0;
    out->ne[1] = ne1 ? ne1 : 1;
    m->n_params += t->n_elements;
    return UE_OK;
}

static ue_status bind_layer(const ue_gguf *g, ue_gemma3 *m, int il, ue_error *err) {
    const ue_gemma3_hparams *hp = &m->hp;
    ue_gemma3_layer *L = &m->layers[il];
    int64_t q_out = (int64_t)hp->n_head * hp->head_dim, kv_out = (int64_t)hp->n_head_kv * hp->head_dim;
    struct {
        const char *suffix;
        int64_t ne0, ne1;
        int norm;
        ue_tensor *dst;
    } specs[] = {
        {"attn_norm", hp->n_embd, 0, 1, &L->attn_norm},
        {"attn_q", hp->n_embd, q_out, 0, &L->wq},
        {"attn_k", hp->n_embd, kv_out, 0, &L->wk},
        {"attn_v", hp->n_embd, kv_out, 0, &L->wv},
        {"attn_q_norm", hp->head_dim, 0, 1, &L->q_norm},
        {"attn_k_norm", hp->head_dim, 0, 1, &L->k_norm},
        {"attn_output", q_out, hp->n_embd, 0, &L->wo},
        {"post_attention_norm", hp->n_embd, 0, 1, &L->post_attn_norm},
        {"ffn_norm", hp->n_embd, 0, 1, &L->ffn_norm},
        {"ffn_gate", hp->n_embd, hp->n_ff, 0, &L->w_gate},
        {"ffn_up", hp->n_embd, hp->n_ff, 0, &L->w_up},
        {"ffn_down", hp->n_ff, hp->n_embd, 0, &L->w_down},
        {"post_ffw_norm", hp->n_embd, 0, 1, &L->post_ffw_norm},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.%s.weight", il, specs[i].suffix);
        ue_status st = bind(g, m, name, specs[i].ne0, specs[i].ne1, specs[i].norm, specs[i].dst, err);
        if (st != UE_OK) return st;
    }
    L->is_global = hp->sliding_window == 0 || (il + 1) % 6 == 0;
    return UE_OK;
}

ue_status ue_gemma3_load(const ue_gguf *g, ue_backend *be, int n_vocab_tokenizer,
                         ue_gemma3 **out, ue_error *err) {
    *out = NULL;
    ue_gemma3 *m = calloc(1, sizeof *m);
    if (!m) return ue_fail(err, UE_ERR_NOMEM, "out of memory loading the model");
    m->be = be;
    ue_status st = read_hparams(g, &m->hp, err);
    if (st != UE_OK) goto fail;

    const ue_gguf_tensor *embd = ue_gguf_find_tensor(g, "token_embd.weight");
    if (!embd) {
        st = ue_fail(err, UE_ERR_FORMAT, "tensor 'token_embd.weight' is missing");
        goto fail;
    }
    if (embd->n_dims != 2 || embd->ne[1] < 1 || embd->ne[1] > (1 << 24)) {
        st = ue_fail(err, UE_ERR_FORMAT,
                     "tensor 'token_embd.weight' has %u dims / %lld rows, expected 2 dims and "
                     "1..16777216 rows", embd->n_dims, (long long)(embd->n_dims >= 2 ? embd->ne[1] : 0));
        goto fail;
    }
    m->hp.n_vocab = (int)embd->ne[1];
    if (n_vocab_tokenizer > m->hp.n_vocab) {
        st = ue_fail(err, UE_ERR_FORMAT,
                     "the tokenizer has %d tokens but token_embd.weight only %d rows",
                     n_vocab_tokenizer, m->hp.n_vocab);
        goto fail;
    }

    /* One buffer over the whole data section; every tensor is a view into it. */
    uint64_t data_off = ue_gguf_data_offset(g);
    uint64_t data_size = ue_gguf_file_size(g) - data_off;
    const char *data = (const char *)embd->data - embd->offset;
    if ((st = be->ops->buffer_from_host(be, data, (size_t)data_size, &m->weights, err)) != UE_OK)
        goto fail;

    if ((st = bind(g, m, "token_embd.weight", m->hp.n_embd, m->hp.n_vocab, 0, &m->tok_embd, err)) ||
        (st = bind(g, m, "output_norm.weight", m->hp.n_embd, 0, 1, &m->output_norm, err)))
        goto fail;
    m->output = m->tok_embd;
    if (ue_gguf_find_tensor(g, "output.weight") &&
        (st = bind(g, m, "output.weight", m->hp.n_embd, m->hp.n_vocab, 0, &m->output, err)))
        goto fail;

    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory loading the model");
        goto fail;
    }
    for (int il = 0; il < m->hp.n_layer; il++)
        if ((st = bind_layer(g, m, il, err)) != UE_OK) goto fail;
    *out = m;
    return UE_OK;
fail:
    ue_gemma3_destroy(m);
    return st;
}

void ue_gemma3_destroy(ue_gemma3 *m) {
    if (!m) return;
    if (m->weights) m->be->ops->buffer_destroy(m->be, m->weights);
    free(m->layers);
    free(m);
}
