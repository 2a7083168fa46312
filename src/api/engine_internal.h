/* The engine and session structs behind include/unicorn.h, shared by src/api files. */
#ifndef UE_API_ENGINE_INTERNAL_H
#define UE_API_ENGINE_INTERNAL_H

#include "backend/backend.h"
#include "core/gguf.h"
#include "model/gemma3.h"
#include "model/tokenizer.h"
#include "unicorn.h"

struct ue_engine {
    ue_gguf *gguf;
    ue_tokenizer *tok;
    ue_backend *be;
    ue_gemma3 *model;
    ue_model_info info;
    char name[128];
    char file_type[32];
    char device[768]; /* "CPU, 2 threads, ... (why it was chosen)" */
};

#endif
