// Pair tokenizer: the Rust C ABI (native/tokenizers) wrapped in RAII. Thread-safe: one instance
// encodes from any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct CrtTokenizer;
struct CrtQuery;

namespace crossrank {

// One encoded input: token ids and token type ids, equal length, special tokens included.
struct Encoding {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> type_ids;
};

class Tokenizer;

// The first text of many pairs (a rerank query), tokenized once (Tokenizer::encode_query).
// Immutable once made: any number of threads may encode pairs with it at once.
class EncodedQuery {
 public:
  ~EncodedQuery();
  EncodedQuery(const EncodedQuery&) = delete;
  EncodedQuery& operator=(const EncodedQuery&) = delete;

 private:
  friend class Tokenizer;
  explicit EncodedQuery(CrtQuery* handle) : handle_(handle) {}
  CrtQuery* handle_;
};

class Tokenizer {
 public:
  // The allocator the tokenizer crate was built with: "mimalloc" or "system".
  static const char* allocator();

  // Loads tokenizer.json; pairs are truncated longest_first to max_length tokens. Without
  // `shortcut`, every text takes the tokenizers crate's own path: same ids, slower (the fuzzer
  // compares the two).
  Tokenizer(const std::string& path, size_t max_length, bool truncate_left, bool shortcut = true);

  // LLM rerankers (issue 23): a single text is then encoded without the post-processor's special
  // tokens (a rendered chat template holds its own), and when it reached max_length, `suffix` is
  // written over its last tokens: sentence-transformers 6.2's Transformer._restore_chat_template_suffix
  // (base/modules/transformer.py), so the positions a score is read at survive truncation.
  void set_chat_mode(std::vector<uint32_t> suffix) {
    chat_ = true;
    suffix_ = std::move(suffix);
  }
  bool chat_mode() const { return chat_; }
  // A rendered prompt in chat mode with another suffix than the loaded one (a per-call instruction
  // that the template renders in its tail changes the suffix).
  void encode_chat(std::string_view text, const std::vector<uint32_t>& suffix, Encoding& out) const;
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Encodes (first, second) as HF does for a pair; with no second, a single sequence.
  void encode(std::string_view first, const std::string_view* second, Encoding& out) const;

  // Tokenizes `first` once for pairs that share it. Throws Error(Tokenizer) when it cannot be
  // encoded.
  std::unique_ptr<EncodedQuery> encode_query(std::string_view first) const;
  // Same ids and type ids as encode(first, &second, out), with `first` from encode_query() of
  // this tokenizer: the query is not tokenized again (native/tokenizers/src/lib.rs says why
  // that is exact). A 1 MB query costs its tokenization once per call, not once per document.
  void encode(const EncodedQuery& first, std::string_view second, Encoding& out) const;

  // Byte offsets into `text` of its tokens encoded alone, without special tokens or truncation:
  // out = [start0, end0, start1, end1, ...]. For cutting long documents into token windows
  // (rerank's chunking). Throws Error(Tokenizer) when the text cannot be encoded.
  void token_offsets(std::string_view text, std::vector<uint32_t>& out) const;

  int64_t token_to_id(const std::string& token) const;  // -1 when absent
  int64_t padding_id() const;                           // from tokenizer.json, -1 when absent
  size_t vocab_size() const;
  size_t max_length() const { return max_length_; }

 private:
  CrtTokenizer* handle_ = nullptr;
  size_t max_length_;
  bool chat_ = false;
  std::vector<uint32_t> suffix_;
};

}  // namespace crossrank
