// Packs encodings of different lengths into one padded [rows, columns] batch: ids padded with the
// model's pad id, attention mask 1 on real tokens, token types copied (0 on padding).
#pragma once

#include <cstdint>
#include <vector>

#include "inference_session.h"
#include "tokenizer.h"

namespace crossrank {

// `columns` must be at least the longest row; rows.size() rows are packed.
void pack_batch(const std::vector<const Encoding*>& rows, size_t columns, int64_t pad_id, bool with_token_types,
                PackedBatch& batch);

}  // namespace crossrank
