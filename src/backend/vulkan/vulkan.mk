# The Vulkan backend's build, included by the Makefile when the Vulkan headers and glslc
# are found: compiles shaders/*.comp to SPIR-V (one module per variant: per weight type
# for the matmul and get_rows families) and embeds them in a generated C file.
CFLAGS += -DUE_HAVE_VULKAN_BACKEND
GLSLC_FLAGS := --target-env=vulkan1.2 -O
VK_TYPES := f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k
VK_REPACK_TYPES := q4_0 q4_1 q5_0 q5_1 q8_0 q6_k
VK_SPV := $(foreach f,mul_mv mul_mm get_rows mul_mvf mul_mvg mul_mvs mul_mvsn mul_mvsg,$(foreach t,$(VK_TYPES),$(BUILD)/spv/$(f)_$(t).spv)) \
          $(foreach t,$(VK_REPACK_TYPES),$(BUILD)/spv/repack_$(t).spv) \
          $(addprefix $(BUILD)/spv/,rms_norm.spv rope.spv attention.spv attn_merge.spv \
                                    add_rms_norm.spv qk_norm_rope.spv attention_dec.spv \
                                    attention_qb.spv attention_decf.spv layer_norm.spv \
                                    attention_full.spv avg_pool.spv decode_layer.spv sum_parts.spv \
                                    quant_q16.spv add_rms_norm_w.spv add_rms_norm_q.spv \
                                    add_rms_norm_wq.spv \
                                    add.spv gelu_mul.spv gelu.spv copy_f32.spv copy_f16.spv)
VK_INC := $(wildcard shaders/include/*.glsl)
# mat-vecs over x as 16-bit integers (integer dot products): the types of Q4_K_M files
VK_SPV += $(foreach f,mul_mvfq mul_mvgq mul_mvsq,$(foreach t,q4_k q6_k,$(BUILD)/spv/$(f)_$(t).spv))
$(BUILD)/spv/mul_mvsq_%.spv: shaders/mul_mvs.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DXQ16 -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
# add_rms_norm.comp's variants: rows of 4097..8192 (WIDE), xn also as 16-bit integers (Q16OUT)
$(BUILD)/spv/add_rms_norm_w.spv: ARN_DEFS := -DWIDE
$(BUILD)/spv/add_rms_norm_q.spv: ARN_DEFS := -DQ16OUT
$(BUILD)/spv/add_rms_norm_wq.spv: ARN_DEFS := -DQ16OUT -DWIDE
$(addprefix $(BUILD)/spv/,add_rms_norm_w.spv add_rms_norm_q.spv add_rms_norm_wq.spv): \
		shaders/add_rms_norm.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) $(ARN_DEFS) $< -o $@
$(BUILD)/spv/mul_mvfq_%.spv: shaders/mul_mvf.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DXQ16 -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mvgq_%.spv: shaders/mul_mvf.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DXQ16 -DGATE_UP -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@

$(BUILD)/spv/mul_mv_%.spv: shaders/mul_mv.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mm_%.spv: shaders/mul_mm.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mvf_%.spv: shaders/mul_mvf.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mvg_%.spv: shaders/mul_mvf.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DGATE_UP -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mvs_%.spv: shaders/mul_mvs.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mvsn_%.spv: shaders/mul_mvs.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DADD_NORM -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/mul_mvsg_%.spv: shaders/mul_mvs.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DGATE_UP -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/repack_%.spv: shaders/repack.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/get_rows_%.spv: shaders/get_rows.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@
$(BUILD)/spv/add.spv $(BUILD)/spv/gelu_mul.spv $(BUILD)/spv/gelu.spv $(BUILD)/spv/copy_f32.spv \
		$(BUILD)/spv/copy_f16.spv: \
		shaders/eltwise.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DOP_$$(basename $@ .spv | tr a-z A-Z) $< -o $@
$(BUILD)/spv/%.spv: shaders/%.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) $< -o $@

# Prefill on matrix units (mul_mmc.comp) needs GL_KHR_cooperative_matrix, which Debian 12's
# glslc lacks: built with a glslangValidator that compiles shaders/probe/coopmat.comp
# (scripts/install_deps.sh installs one from PyPI); without it the tiled path serves.
GLSLANG ?= glslangValidator
HAVE_VK_COOPMAT := $(shell $(GLSLANG) -V --target-env vulkan1.2 -S comp shaders/probe/coopmat.comp -o /dev/null >/dev/null 2>&1 && echo 1)
VK_MMC_TYPES := f16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k
ifeq ($(HAVE_VK_COOPMAT),1)
  VK_SPV += $(foreach f,mul_mmc mul_mmcb,$(foreach t,$(VK_MMC_TYPES),$(BUILD)/spv/$(f)_$(t).spv))
endif
$(BUILD)/spv/mul_mmc_%.spv: shaders/mul_mmc.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLANG) -V --target-env vulkan1.2 -S comp -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@ \
		> $@.log || (cat $@.log; rm -f $@; false)
$(BUILD)/spv/mul_mmcb_%.spv: shaders/mul_mmcb.comp $(VK_INC)
	@mkdir -p $(dir $@)
	$(GLSLANG) -V --target-env vulkan1.2 -S comp -DTYPE_$$(echo $* | tr a-z A-Z) $< -o $@ \
		> $@.log || (cat $@.log; rm -f $@; false)

# The embedded set changes with the tools found: a list file, rewritten only when it
# differs, makes the embedding follow.
VK_LIST := $(BUILD)/gen/vk_spv.list
$(shell mkdir -p $(BUILD)/gen && (echo '$(VK_SPV)' | cmp -s - $(VK_LIST) || echo '$(VK_SPV)' > $(VK_LIST)))

$(BUILD)/gen/vk_spirv.c: $(VK_SPV) src/backend/vulkan/embed_spirv.sh src/backend/vulkan/vulkan.mk $(VK_LIST)
	@mkdir -p $(dir $@)
	sh src/backend/vulkan/embed_spirv.sh $@ $(VK_SPV)
$(BUILD)/obj/gen/vk_spirv.o: $(BUILD)/gen/vk_spirv.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

LIB_OBJ += $(BUILD)/obj/gen/vk_spirv.o
