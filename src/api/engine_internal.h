/* The engine and session structs behind include/unicorn.h, shared by src/api files. */
#ifndef UE_API_ENGINE_INTERNAL_H
#define UE_API_ENGINE_INTERNAL_H

#include "backend/backend.h"
#include "core/gguf.h"
#include "model/gemma3.h"
#include "model/siglip.h"
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
    /* Vision (api/vision.c): NULL when the engine has none. */
    ue_siglip *vision;
    ue_gguf *vision_gguf;     /* the mmproj file; NULL when the weights are in gguf */
    ue_backend *vision_be;    /* be, or an own CPU backend when be lacks the encoder's ops */
    char vision_file[256];
};

/* Loads the vision weights named by params (mmproj_path, else the model file's v.*
 * tensors when present); called by ue_engine_create after the text model. */
ue_status ue_engine_vision_init(ue_engine *engine, const ue_engine_params *params, ue_error *err);
void ue_engine_vision_free(ue_engine *engine);
/* The engine a session belongs to (session.c). */
ue_engine *ue_session_engine(const ue_session *session);

#endif
