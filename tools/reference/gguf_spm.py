"""SentencePiece processor rebuilt from a GGUF vocabulary (tokenizer.ggml.tokens/scores/token_type).

gemma3.md §3: BPE, byte_fallback, identity normalizer, no dummy prefix, no whitespace cleanup.
The llama.cpp converter stores user-defined pieces with ' ' where the original model had '▁'
(e.g. ids 138..167, runs of spaces); they are turned back into '▁' here so SentencePiece, which
matches user-defined pieces after escaping spaces, treats them as the original model does.
Control tokens (<bos>, <start_of_turn>, ...) are never produced from text: callers insert ids.
"""
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

# GGUF token_type -> SentencePiece piece type (both: 1 normal, 2 unknown, 3 control,
# 4 user-defined, 5 unused, 6 byte).
_SP_TYPE = {1: pb.ModelProto.SentencePiece.NORMAL, 2: pb.ModelProto.SentencePiece.UNKNOWN,
            3: pb.ModelProto.SentencePiece.CONTROL, 4: pb.ModelProto.SentencePiece.USER_DEFINED,
            5: pb.ModelProto.SentencePiece.UNUSED, 6: pb.ModelProto.SentencePiece.BYTE}


def build(metadata):
    """SentencePieceProcessor for the vocabulary in a GGUF metadata dict (see gemma3_ref.read_metadata)."""
    toks = metadata["tokenizer.ggml.tokens"]
    scores = metadata["tokenizer.ggml.scores"]
    types = metadata["tokenizer.ggml.token_type"]
    unk = int(metadata.get("tokenizer.ggml.unknown_token_id", 3))
    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(toks)
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id = unk
    m.trainer_spec.bos_id = int(metadata.get("tokenizer.ggml.bos_token_id", 2))
    m.trainer_spec.eos_id = int(metadata.get("tokenizer.ggml.eos_token_id", 1))
    m.trainer_spec.pad_id = int(metadata.get("tokenizer.ggml.padding_token_id", 0))
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = bool(metadata.get("tokenizer.ggml.add_space_prefix", False))
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    for i, (piece, score, ttype) in enumerate(zip(toks, scores, types)):
        p = m.pieces.add()
        ttype = int(ttype)
        p.piece = piece.replace(" ", "\u2581") if ttype == 4 else piece
        p.score = float(score)
        p.type = pb.ModelProto.SentencePiece.UNKNOWN if i == unk else _SP_TYPE[ttype]
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(m.SerializeToString())
    return sp
