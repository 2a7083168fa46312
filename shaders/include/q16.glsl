// The arithmetic of x as 16-bit integers (layout: mvq_items.glsl), one for every producer
// (quant_q16.comp, add_rms_norm.comp with -DQ16OUT) and the same as the CPU's Q16_32
// (cpu_quant_q16_32_scalar): per 32 elements the step dx = max|x| / 32767, then
// q = round(x / dx) with ties to even, |q| <= 32767.
float q16_step(float amax) { return amax / 32767.0; }
float q16_inv(float dx) { return dx != 0.0 ? 1.0 / dx : 0.0; }
int q16_round(float v, float inv) { return int(clamp(roundEven(v * inv), -32767.0, 32767.0)); }
