// libFuzzer harness for the tokenizer C ABI (native/tokenizers) through the core's Tokenizer.
// Input: arbitrary bytes, split at the first 0xFF into a first and a second text (so invalid UTF-8,
// NUL bytes and empty sides all occur); the first byte also picks the max length. Checks: no crash,
// no sanitizer report, the contract (at most max_length tokens, ids and type ids of equal length,
// type ids 0/1, every id within the vocabulary), and that the exact BERT shortcut
// (native/tokenizers/src/bert_shortcut.rs) gives the same ids and type ids as the crate's own
// path, or the same refusal; and that a pair encoded through a query tokenized once (the rerank
// path, Tokenizer::encode_query) gives the same ids as the pair encoded whole, or the same refusal;
// and that token offsets (Tokenizer::token_offsets, rerank's chunking) come back as ordered spans.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "errors.h"
#include "tokenizer.h"

namespace {

const char* tokenizer_path() {
  const char* p = std::getenv("CROSSRANK_FUZZ_TOKENIZER");
  return p ? p : "test/fixtures/models/bert-tiny/tokenizer.json";
}

// A few max lengths, each loaded once with and once without the shortcut: loading is not what is
// fuzzed here.
crossrank::Tokenizer& tokenizer_for(size_t max_length, bool shortcut) {
  static std::unique_ptr<crossrank::Tokenizer> cache[2][4];
  const size_t slot = max_length % 4;
  static const size_t lengths[4] = {5, 16, 128, 512};
  auto& entry = cache[shortcut ? 1 : 0][slot];
  if (!entry) entry = std::make_unique<crossrank::Tokenizer>(tokenizer_path(), lengths[slot], slot == 1, shortcut);
  return *entry;
}

// Encodes; false when the tokenizer refuses with a coded error (e.g. max length 5 cannot hold a
// pair's 3 specials plus both texts). Anything else escaping is a bug and crashes the fuzzer.
bool encode(const crossrank::Tokenizer& tok, std::string_view first, const std::string_view* second,
            crossrank::Encoding& e) {
  try {
    tok.encode(first, second, e);
    return true;
  } catch (const crossrank::Error& err) {
    if (err.code() != crossrank::ErrorCode::Tokenizer) std::abort();
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  crossrank::Tokenizer& tok = tokenizer_for(data[0], true);
  const crossrank::Tokenizer& reference = tokenizer_for(data[0], false);
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t cut = all.find('\xff');
  const std::string_view first = all.substr(0, cut);
  const std::string_view second = cut == std::string_view::npos ? std::string_view() : all.substr(cut + 1);
  const std::string_view* second_ptr = cut == std::string_view::npos ? nullptr : &second;
  crossrank::Encoding e, expected;
  const bool encoded = encode(tok, first, second_ptr, e);
  if (encoded != encode(reference, first, second_ptr, expected)) std::abort();
  if (second_ptr != nullptr) {
    // The rerank path, with and without the shortcut: the query encoded once, then the pair.
    for (const crossrank::Tokenizer* t : {static_cast<const crossrank::Tokenizer*>(&tok), &reference}) {
      crossrank::Encoding via_query;
      bool ok = true;
      try {
        const auto query = t->encode_query(first);
        t->encode(*query, second, via_query);
      } catch (const crossrank::Error& err) {
        if (err.code() != crossrank::ErrorCode::Tokenizer) std::abort();
        ok = false;
      }
      if (ok != encoded) std::abort();
      if (ok && (via_query.ids != expected.ids || via_query.type_ids != expected.type_ids)) std::abort();
    }
  }
  // Token offsets (rerank's chunking) of the whole input: any bytes, a coded error or ordered spans.
  {
    std::vector<uint32_t> offsets;
    bool ok = true;
    try {
      tok.token_offsets(all, offsets);
    } catch (const crossrank::Error& err) {
      if (err.code() != crossrank::ErrorCode::Tokenizer) std::abort();
      ok = false;
    }
    if (ok) {
      if (offsets.size() % 2 != 0) std::abort();
      for (size_t i = 0; i < offsets.size(); i += 2) {
        if (offsets[i] > offsets[i + 1]) std::abort();
      }
    }
  }
  if (!encoded) return 0;
  if (e.ids != expected.ids || e.type_ids != expected.type_ids) std::abort();
  if (e.ids.size() > tok.max_length() || e.ids.size() != e.type_ids.size()) std::abort();
  for (size_t i = 0; i < e.ids.size(); ++i) {
    if (e.ids[i] >= tok.vocab_size() || e.type_ids[i] > 1) std::abort();
  }
  return 0;
}
