// Integer dot products of 4 packed 8-bit values (SPV_KHR_integer_dot_product, Vulkan 1.3's
// shaderIntegerDotProduct), declared through GL_EXT_spirv_intrinsics because Debian 12's
// glslc predates GL_EXT_integer_dot_product. The last argument is the packed vector
// format: 0 = PackedVectorFormat4x8Bit.
#extension GL_EXT_spirv_intrinsics : require

// signed . signed
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4450)
int dot_ss(uint a, uint b, spirv_literal int fmt);
// unsigned . unsigned
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4451)
uint dot_uu(uint a, uint b, spirv_literal int fmt);
// signed (a) . unsigned (b)
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018],
                  id = 4452)
int dot_su(uint a, uint b, spirv_literal int fmt);
