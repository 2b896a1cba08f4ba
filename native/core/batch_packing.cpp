#include "batch_packing.h"

#include <algorithm>

#include "errors.h"

namespace crossrank {

void pack_batch(const std::vector<const Encoding*>& rows, size_t columns, int64_t pad_id, bool with_token_types,
                PackedBatch& batch) {
  const size_t n = rows.size();
  batch.rows = n;
  batch.columns = columns;
  batch.input_ids.assign(n * columns, pad_id);
  batch.attention_mask.assign(n * columns, 0);
  if (with_token_types) {
    batch.token_type_ids.assign(n * columns, 0);
  } else {
    batch.token_type_ids.clear();
  }
  for (size_t r = 0; r < n; ++r) {
    const Encoding& e = *rows[r];
    if (e.ids.size() > columns || e.type_ids.size() != e.ids.size()) {
      throw Error(ErrorCode::Internal, "pack_batch: a row does not fit the batch");
    }
    std::copy(e.ids.begin(), e.ids.end(), batch.input_ids.begin() + static_cast<std::ptrdiff_t>(r * columns));
    std::fill_n(batch.attention_mask.begin() + static_cast<std::ptrdiff_t>(r * columns), e.ids.size(), int64_t{1});
    if (with_token_types) {
      std::copy(e.type_ids.begin(), e.type_ids.end(), batch.token_type_ids.begin() + static_cast<std::ptrdiff_t>(r * columns));
    }
  }
}

}  // namespace crossrank
