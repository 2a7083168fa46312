#version 450
// The end of a Gemma block in one dispatch, one workgroup per row:
//   x += rms_norm(o) * w_post;  then, with has_next, xn = rms_norm(x) * w_next
// (the next block's input norm). Arithmetic as rms_norm.comp and eltwise.comp's add.
// Rows of up to WG * PER elements (4096; 8192 with -DWIDE, every Gemma 3 width) are
// held in registers, every load issued up front (the op is latency-bound: one row per
// token); longer rows loop over memory (the 27B's 5376 there took 30 us a call on an
// H100, ~4 ms of a decoded token: run 55; in 16 registers each of 256 invocations, the
// 2560-wide 4B rows lost 8% of its decode speed: run 57).
// With -DQ16OUT (rows in registers, n a multiple of 64, has_next) xn is also written as
// 16-bit integers for the integer-dot mat-vecs that read it (quant_q16.comp's layout and
// arithmetic, set 4), which saves them a quantizing dispatch.
#include "include/common.glsl"

#ifdef WIDE // rows of 4097..8192 (the 27B's 5376): more invocations, as few loads each
#define WG 1024u
#define PER 8u
layout(local_size_x = 1024) in;
#else
#define WG 256u
#define PER 16u
layout(local_size_x = 256) in;
#endif

layout(set = 0, binding = 0) readonly buffer OB { float o_[]; };
layout(set = 1, binding = 0) buffer XB { float xf[]; };
layout(set = 2, binding = 0) writeonly buffer NB { float nf[]; };
layout(set = 3, binding = 0) readonly buffer WB { float wf[]; };

layout(push_constant) uniform P {
    uint o_off, o_stride, x_off, x_stride, n_off, n_stride;
    uint wp_off, wn_off, n, n_rows, has_next;
    float eps;
    uint q_off, q_stride; // Q16OUT: 16-byte units
} p;

#ifdef Q16OUT
#include "include/q16.glsl"
layout(set = 4, binding = 0) writeonly buffer QB { uvec4 q4[]; };
layout(set = 4, binding = 0) writeonly buffer QF { float qf[]; };
// per 32-block: max |xn| (float bits: ordered as uints for non-negative floats) and the
// integer sum; the hi / lo bytes gathered into words (rows of up to 8192)
shared uint q_max[256];
shared int q_sum[256];
shared uint q_hi[2048], q_lo[2048];

// xn[i] = v for i < n (this invocation's values, i = tid + WG j) to Q16, written at row
// qr; shared state zeroed before (and a barrier since).
void store_q16(float v[PER], uint tid, uint qr) {
    uint n = p.n;
    for (uint j = 0u; j < PER; j++) {
        uint i = tid + WG * j;
        if (i < n) atomicMax(q_max[i / 32u], floatBitsToUint(abs(v[j])));
    }
    barrier();
    for (uint j = 0u; j < PER; j++) {
        uint i = tid + WG * j;
        if (i >= n) continue;
        int q = q16_round(v[j], q16_inv(q16_step(uintBitsToFloat(q_max[i / 32u]))));
        uint u = uint(q), sh = 8u * (i % 4u);
        atomicOr(q_hi[i / 4u], ((u >> 8) & 0xFFu) << sh);
        atomicOr(q_lo[i / 4u], (u & 0xFFu) << sh);
        atomicAdd(q_sum[i / 32u], q);
    }
    barrier();
    for (uint w = tid; w < n / 16u; w += WG) {
        q4[qr + w] = uvec4(q_hi[4u * w], q_hi[4u * w + 1u], q_hi[4u * w + 2u], q_hi[4u * w + 3u]);
        q4[qr + n / 16u + w] =
            uvec4(q_lo[4u * w], q_lo[4u * w + 1u], q_lo[4u * w + 2u], q_lo[4u * w + 3u]);
    }
    uint f = 4u * qr + n / 2u;
    for (uint b = tid; b < n / 32u; b += WG) {
        float dd = q16_step(uintBitsToFloat(q_max[b]));
        qf[f + b] = dd;
        qf[f + n / 32u + b] = dd * float(q_sum[b]);
    }
}
#endif

void main() {
    uint row = wg_linear(), tid = gl_LocalInvocationID.x;
    if (row >= p.n_rows) return; // uniform across the workgroup
    uint orow = p.o_off + row * p.o_stride, xrow = p.x_off + row * p.x_stride;
    uint nrow = p.n_off + row * p.n_stride;
    if (p.n <= WG * PER) { // uniform
#ifdef Q16OUT
        for (uint k = tid; k < p.n / 4u; k += WG) q_hi[k] = q_lo[k] = 0u;
        for (uint k = tid; k < p.n / 32u; k += WG) q_max[k] = 0u, q_sum[k] = 0;
#endif
        float ov[PER], xv[PER], wp[PER], wn[PER];
        for (uint j = 0u; j < PER; j++) {
            uint i = tid + WG * j;
            bool in_ = i < p.n;
            ov[j] = in_ ? o_[orow + i] : 0.0;
            xv[j] = in_ ? xf[xrow + i] : 0.0;
            wp[j] = in_ ? wf[p.wp_off + i] : 0.0;
            wn[j] = in_ && p.has_next != 0u ? wf[p.wn_off + i] : 0.0;
        }
        float s = 0.0;
        for (uint j = 0u; j < PER; j++) s += ov[j] * ov[j];
        s = wg_sum(s);
        float inv = 1.0 / sqrt(s / float(p.n) + p.eps);
        float s2 = 0.0;
        for (uint j = 0u; j < PER; j++) {
            uint i = tid + WG * j;
            xv[j] = xv[j] + ov[j] * inv * wp[j];
            if (i < p.n) xf[xrow + i] = xv[j];
            s2 += xv[j] * xv[j];
        }
        if (p.has_next == 0u) return; // uniform
        s2 = wg_sum(s2);
        float inv2 = 1.0 / sqrt(s2 / float(p.n) + p.eps);
        for (uint j = 0u; j < PER; j++) {
            uint i = tid + WG * j;
            xv[j] = xv[j] * inv2 * wn[j];
            if (i < p.n) nf[nrow + i] = xv[j];
        }
#ifdef Q16OUT
        store_q16(xv, tid, p.q_off + row * p.q_stride);
#endif
        return;
    }
    float s = 0.0;
    for (uint i = tid; i < p.n; i += WG) s += o_[orow + i] * o_[orow + i];
    s = wg_sum(s);
    float inv = 1.0 / sqrt(s / float(p.n) + p.eps);
    float s2 = 0.0;
    for (uint i = tid; i < p.n; i += WG) {
        float v = xf[xrow + i] + o_[orow + i] * inv * wf[p.wp_off + i];
        xf[xrow + i] = v;
        s2 += v * v;
    }
    if (p.has_next == 0u) return; // uniform
    s2 = wg_sum(s2);
    float inv2 = 1.0 / sqrt(s2 / float(p.n) + p.eps);
    for (uint i = tid; i < p.n; i += WG) nf[nrow + i] = xf[xrow + i] * inv2 * wf[p.wn_off + i];
}
