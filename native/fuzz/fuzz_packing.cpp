// libFuzzer harness for tensor packing (core/batch_packing): rows of arbitrary lengths and ids
// from the input bytes. Checks every invariant the model relies on: the mask marks exactly each
// row's tokens, ids and type ids are copied in place, padding carries the pad id and type 0.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "batch_packing.h"
#include "errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int64_t pad_id = data[0];
  const bool with_types = data[1] & 1;
  size_t pos = 2;
  std::vector<crossrank::Encoding> encodings;
  size_t longest = 0;
  while (pos < size && encodings.size() < 64) {
    const size_t len = data[pos++] % 48;
    crossrank::Encoding e;
    for (size_t i = 0; i < len && pos < size; ++i, ++pos) {
      e.ids.push_back(data[pos] * 131u);
      e.type_ids.push_back(data[pos] & 1);
    }
    longest = std::max(longest, e.ids.size());
    encodings.push_back(std::move(e));
  }
  std::vector<const crossrank::Encoding*> rows;
  for (const auto& e : encodings) rows.push_back(&e);
  const size_t columns = std::max<size_t>(1, longest + (data[1] >> 6));  // sometimes wider than needed
  crossrank::PackedBatch batch;
  crossrank::pack_batch(rows, columns, pad_id, with_types, batch);
  if (batch.rows != rows.size() || batch.columns != columns) std::abort();
  if (batch.input_ids.size() != rows.size() * columns || batch.attention_mask.size() != rows.size() * columns) std::abort();
  if (with_types != (batch.token_type_ids.size() == rows.size() * columns)) std::abort();
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& e = *rows[r];
    for (size_t c = 0; c < columns; ++c) {
      const size_t k = r * columns + c;
      const bool real = c < e.ids.size();
      if (batch.attention_mask[k] != (real ? 1 : 0)) std::abort();
      if (batch.input_ids[k] != (real ? static_cast<int64_t>(e.ids[c]) : pad_id)) std::abort();
      if (with_types && batch.token_type_ids[k] != (real ? static_cast<int64_t>(e.type_ids[c]) : 0)) std::abort();
    }
  }
  // A row longer than the batch must be refused with a coded error, never written out of bounds.
  if (longest > 0) {
    bool refused = false;
    try {
      crossrank::pack_batch(rows, longest - 1, pad_id, with_types, batch);
    } catch (const crossrank::Error&) {
      refused = true;
    }
    if (!refused) std::abort();
  }
  return 0;
}
