#include "tokenizer.h"

#include <algorithm>

#include "crossrank_tokenizers.h"
#include "errors.h"

namespace crossrank {

namespace {
// Takes ownership of a Rust-allocated error string.
std::string take_error(char* error, const char* fallback) {
  if (error == nullptr) return fallback;
  std::string message(error);
  crt_string_free(error);
  return message;
}
}  // namespace

Tokenizer::Tokenizer(const std::string& path, size_t max_length, bool truncate_left, bool shortcut)
    : max_length_(max_length) {
  if (max_length == 0) throw Error(ErrorCode::InvalidArgument, "maxLength must be positive");
  char* error = nullptr;
  handle_ = crt_tokenizer_load(path.c_str(), max_length, truncate_left ? 1 : 0, shortcut ? 1 : 0, &error);
  if (handle_ == nullptr) {
    throw Error(ErrorCode::Tokenizer,
                "cannot load tokenizer '" + path + "': " + take_error(error, "unknown error"));
  }
}

const char* Tokenizer::allocator() { return crt_allocator(); }

Tokenizer::~Tokenizer() { crt_tokenizer_free(handle_); }

namespace {
// Truncation guarantees at most max_length tokens: `write` encodes into per-thread scratch of that
// size, then the encoding keeps exactly what was written. Sizing the encoding itself to max_length
// would leave every queued pair holding 4 KB (at 512 tokens) for its ~70 tokens.
template <typename Write>
void encode_into(size_t max_length, Encoding& out, Write write) {
  thread_local std::vector<uint32_t> ids_scratch, types_scratch;
  if (ids_scratch.size() < max_length) {
    ids_scratch.resize(max_length);
    types_scratch.resize(max_length);
  }
  char* error = nullptr;
  const int64_t n = write(ids_scratch.data(), types_scratch.data(), &error);
  if (n < 0) throw Error(ErrorCode::Tokenizer, "cannot encode input: " + take_error(error, "unknown error"));
  out.ids.assign(ids_scratch.begin(), ids_scratch.begin() + n);
  out.type_ids.assign(types_scratch.begin(), types_scratch.begin() + n);
}
}  // namespace

void Tokenizer::encode(std::string_view first, const std::string_view* second, Encoding& out) const {
  if (chat_ && second == nullptr) return encode_chat(first, suffix_, out);
  encode_into(max_length_, out, [&](uint32_t* ids, uint32_t* types, char** error) {
    return crt_encode(handle_, first.data(), first.size(), second ? second->data() : nullptr,
                      second ? second->size() : 0, ids, types, max_length_, error);
  });
}

void Tokenizer::encode_chat(std::string_view text, const std::vector<uint32_t>& suffix, Encoding& out) const {
  encode_into(max_length_, out, [&](uint32_t* ids, uint32_t* types, char** error) {
    return crt_encode_text(handle_, text.data(), text.size(), ids, types, max_length_, error);
  });
  // Only a row that reached max_length can have been cut (sentence-transformers skips shorter ones).
  if (!suffix.empty() && out.ids.size() >= max_length_) {
    const size_t keep = std::min(suffix.size(), out.ids.size());
    std::copy(suffix.end() - static_cast<std::ptrdiff_t>(keep), suffix.end(),
              out.ids.end() - static_cast<std::ptrdiff_t>(keep));
  }
}

EncodedQuery::~EncodedQuery() { crt_query_free(handle_); }

std::unique_ptr<EncodedQuery> Tokenizer::encode_query(std::string_view first) const {
  char* error = nullptr;
  CrtQuery* handle = crt_query_encode(handle_, first.data(), first.size(), &error);
  if (handle == nullptr) throw Error(ErrorCode::Tokenizer, "cannot encode input: " + take_error(error, "unknown error"));
  return std::unique_ptr<EncodedQuery>(new EncodedQuery(handle));
}

void Tokenizer::encode(const EncodedQuery& first, std::string_view second, Encoding& out) const {
  encode_into(max_length_, out, [&](uint32_t* ids, uint32_t* types, char** error) {
    return crt_encode_with_query(handle_, first.handle_, second.data(), second.size(), ids, types, max_length_, error);
  });
}

void Tokenizer::token_offsets(std::string_view text, std::vector<uint32_t>& out) const {
  // A token covers at least one byte in every tokenizer crossrank loads, so len / 2 + 16 pairs is
  // usually enough at once; otherwise the crate says how many and the call is repeated.
  size_t capacity = text.size() / 2 + 16;
  for (int attempt = 0; attempt < 2; ++attempt) {
    out.resize(2 * capacity);
    char* error = nullptr;
    const int64_t n = crt_token_offsets(handle_, text.data(), text.size(), out.data(), capacity, &error);
    if (n < 0) throw Error(ErrorCode::Tokenizer, "cannot encode input: " + take_error(error, "unknown error"));
    if (static_cast<size_t>(n) <= capacity) {
      out.resize(2 * static_cast<size_t>(n));
      return;
    }
    capacity = static_cast<size_t>(n);
  }
  throw Error(ErrorCode::Tokenizer, "cannot encode input: token count changed between two encodings");
}

int64_t Tokenizer::token_to_id(const std::string& token) const {
  return crt_tokenizer_token_to_id(handle_, token.c_str());
}

int64_t Tokenizer::padding_id() const { return crt_tokenizer_padding_id(handle_); }

size_t Tokenizer::vocab_size() const { return crt_tokenizer_vocab_size(handle_); }

}  // namespace crossrank
