# Unicorn Engine build. Sources are found by folder, so adding a file needs no edit here.
#   make            library + build/unicorn
#   make test       build and run the test suite (tests/run_tests.sh)
#   make SAN=1 ...  the same with ASan + UBSan, in build-san/
#   make fuzz       libFuzzer targets (clang), in build-fuzz/

CC      ?= cc
SAN     ?= 0
OPT     ?= -O2
CFLAGS_BASE = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Isrc -Itests/support -MMD -MP
# -ldl: discovery loads libvulkan and libcuda at run time (in libc itself since glibc 2.34)
LDLIBS  = -lm -lpthread -ldl

ifeq ($(SAN),1)
  BUILD  = build-san
  CFLAGS = $(CFLAGS_BASE) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD  = build
  CFLAGS = $(CFLAGS_BASE) $(OPT) -g
endif

# Optional libraries, switched on by detection (pkg-config).
HAVE_EDIT := $(shell pkg-config --exists libedit && echo 1)
ifeq ($(HAVE_EDIT),1)
  CFLAGS += -DUE_HAVE_LIBEDIT $(shell pkg-config --cflags libedit)
  APP_LIBS += $(shell pkg-config --libs libedit)
endif
HAVE_JSONC := $(shell pkg-config --exists json-c && echo 1)
ifeq ($(HAVE_JSONC),1)
  CFLAGS += -DUE_HAVE_JSONC $(shell pkg-config --cflags json-c)
  APP_LIBS += $(shell pkg-config --libs json-c)
endif

# Image decoders for vision input: required (scripts/install_deps.sh installs them).
IMAGE_PKGS := libpng libjpeg libwebp libgif
ifneq ($(shell pkg-config --exists $(IMAGE_PKGS) && echo 1),1)
  $(error missing image libraries ($(IMAGE_PKGS)): run scripts/install_deps.sh)
endif
CFLAGS_BASE += $(shell pkg-config --cflags $(IMAGE_PKGS))
LDLIBS += $(shell pkg-config --libs $(IMAGE_PKGS))

LIB_SRC  := $(shell find src -name '*.c' -not -path 'src/app/*' | sort)
APP_SRC  := $(sort $(wildcard src/app/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := $(sort $(wildcard tests/support/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
SUP_OBJ  := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libunicorn.a

all: $(BUILD)/unicorn

# Vulkan backend: built when the Vulkan headers and glslc are there (libvulkan itself is
# loaded at run time); its rules are in src/backend/vulkan/vulkan.mk.
GLSLC ?= glslc
HAVE_VULKAN := $(shell test -f /usr/include/vulkan/vulkan_core.h && command -v $(GLSLC) >/dev/null && echo 1)
ifeq ($(HAVE_VULKAN),1)
  include src/backend/vulkan/vulkan.mk
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/unicorn: $(APP_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(APP_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUP_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka -lutil $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/unicorn

test: tests
	BUILD=$(BUILD) bash tests/run_tests.sh

# Fuzz targets: fuzz/fuzz_<name>.c, each linked with libFuzzer.
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
build-fuzz/%: fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang $(CFLAGS_BASE) -O1 -g -fsanitize=fuzzer,address,undefined $< $(LIB_SRC) -o $@ $(LDLIBS)
fuzz: $(FUZZ_BIN)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all tests test fuzz clean
.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
