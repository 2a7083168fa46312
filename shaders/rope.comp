#version 450
// NeoX rotary embedding in place: pairs (i, i + n_rot/2) of each head rotate by
// theta = (pos * freq_scale) * base^(-2i/n_rot). theta is formed as an exact two-float
// product and reduced modulo 2 pi before sin/cos, so long positions keep their accuracy
// on GPUs whose sin/cos are only accurate near zero.
#include "include/common.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0) buffer XB { float xf[]; };

layout(push_constant) uniform P {
    uint x_off, x_stride, n_heads, head_dim, n_rot, pos0;
    float log2_base, freq_scale;
} p;

void main() {
    uint half_ = p.n_rot / 2u, g = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
    if (g >= half_ * p.n_heads) return;
    uint h = g / half_, i = g % half_;
    precise float pos = float(p.pos0 + t) * p.freq_scale;
    precise float inv = exp2(-2.0 * float(i) / float(p.n_rot) * p.log2_base);
    precise float hi = pos * inv;
    precise float lo = fma(pos, inv, -hi);
    precise float k = round(hi * 0.15915494309189535);
    precise float r = fma(-k, 6.28318548202514648, hi);
    r = fma(-k, -1.7484556e-7, r) + lo;
    float c = cos(r), s = sin(r);
    uint b = p.x_off + t * p.x_stride + h * p.head_dim + i;
    float a = xf[b], bb = xf[b + half_];
    xf[b] = a * c - bb * s;
    xf[b + half_] = a * s + bb * c;
}
