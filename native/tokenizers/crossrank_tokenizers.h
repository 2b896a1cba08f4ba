/* C ABI of native/tokenizers (Rust, over the Hugging Face `tokenizers` crate).
 * Every function is panic-safe; error strings are owned by the caller (crt_string_free). */
#ifndef CROSSRANK_TOKENIZERS_H
#define CROSSRANK_TOKENIZERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CrtTokenizer CrtTokenizer;

/* Loads tokenizer.json, truncating pairs longest_first to max_length tokens (from the left when
 * truncate_left != 0) with padding off. shortcut != 0 enables the exact BERT shortcut
 * (bert_shortcut.rs); 0 keeps the crate's own path for every text (the fuzzer's reference).
 * NULL and *error set on failure. */
CrtTokenizer* crt_tokenizer_load(const char* path, size_t max_length, int32_t truncate_left,
                                 int32_t shortcut, char** error);
void crt_tokenizer_free(CrtTokenizer* tokenizer);
void crt_string_free(char* s);
/* The allocator the crate was built with: "mimalloc" or "system" (static, never freed). */
const char* crt_allocator(void);

/* Vocabulary id of a token (added tokens included), or -1. */
int64_t crt_tokenizer_token_to_id(const CrtTokenizer* tokenizer, const char* token);
/* Pad id from the file's padding settings, or -1 when it has none. */
int64_t crt_tokenizer_padding_id(const CrtTokenizer* tokenizer);
/* Vocabulary size with added tokens. */
size_t crt_tokenizer_vocab_size(const CrtTokenizer* tokenizer);

/* Encodes first (+ second unless NULL) with special tokens and truncation. Writes ids and type
 * ids (capacity entries each) and returns the token count, or -1 with *error set. */
int64_t crt_encode(const CrtTokenizer* tokenizer, const char* first, size_t first_len,
                   const char* second, size_t second_len, uint32_t* ids, uint32_t* type_ids,
                   size_t capacity, char** error);

/* Encodes one text WITHOUT the post-processor's special tokens (transformers' add_special_tokens=False,
 * as apply_chat_template tokenizes a rendered chat template), truncated to max_length like crt_encode.
 * Same return and errors as crt_encode. */
int64_t crt_encode_text(const CrtTokenizer* tokenizer, const char* text, size_t text_len, uint32_t* ids,
                        uint32_t* type_ids, size_t capacity, char** error);

/* The first text of many pairs (a rerank query), encoded once. NULL and *error set on failure;
 * free with crt_query_free. A query may be used from many threads at once. */
typedef struct CrtQuery CrtQuery;
CrtQuery* crt_query_encode(const CrtTokenizer* tokenizer, const char* text, size_t len, char** error);
void crt_query_free(CrtQuery* query);
/* crt_encode(tokenizer, query's text, second) without encoding the query again: the same ids,
 * type ids and errors (the crate's post_process over the kept query encoding; see lib.rs). */
int64_t crt_encode_with_query(const CrtTokenizer* tokenizer, const CrtQuery* query, const char* second,
                              size_t second_len, uint32_t* ids, uint32_t* type_ids, size_t capacity,
                              char** error);

/* Byte offsets of the tokens of `text` encoded alone (no special tokens, no truncation): returns
 * the token count n and, when n <= capacity, writes offsets[2i], offsets[2i + 1] = start, end of
 * token i (nothing when n > capacity: call again with room for n). -1 with *error set on failure.
 * For cutting long documents into token windows; the encode functions are unchanged. */
int64_t crt_token_offsets(const CrtTokenizer* tokenizer, const char* text, size_t len, uint32_t* offsets,
                          size_t capacity, char** error);

#ifdef __cplusplus
}
#endif
#endif
