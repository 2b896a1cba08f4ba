//! A small C ABI over the Hugging Face `tokenizers` crate.
//!
//! crossrank's C++ core calls these functions to load a `tokenizer.json` and to encode
//! (query, document) pairs exactly as `transformers` does for a cross-encoder: special tokens
//! added by the tokenizer's own post-processor, `longest_first` truncation to a maximum length,
//! no padding (the core pads per batch). Text through a BERT normalizer takes an exact shortcut
//! that normalizes printable ASCII itself (`bert_shortcut.rs`). The header is `crossrank_tokenizers.h`.
//!
//! Contract for every function: no panic crosses the boundary (each body runs under
//! `catch_unwind`), pointers are checked for NULL, and error strings are owned by the caller,
//! who frees them with `crt_string_free`.

mod bert_shortcut;

use bert_shortcut::BertShortcut;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

// Tokenizing a pair makes dozens of small allocations (normalizer alignments, word pieces): with
// glibc malloc they were a fifth of the time, and tokenizer threads contend on its arenas.
// mimalloc serves only this crate's Rust allocations; the C++ side keeps the system allocator.
// The sanitizer and valgrind builds switch it off so those tools see every allocation.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Which allocator this build of the crate uses: "mimalloc" or "system". A static string.
#[no_mangle]
pub extern "C" fn crt_allocator() -> *const c_char {
    let name: &'static [u8] = if cfg!(feature = "mimalloc") {
        b"mimalloc\0"
    } else {
        b"system\0"
    };
    name.as_ptr() as *const c_char
}

use std::sync::OnceLock;
use tokenizers::tokenizer::{
    Encoding, Model, Normalizer, OffsetType, PreTokenizer, Tokenizer, TokenizerImpl,
    TruncationDirection, TruncationParams, TruncationStrategy,
};

/// Opaque handle given to C. `Tokenizer` is `Sync`: one handle may encode from many threads.
pub struct CrtTokenizer {
    inner: Tokenizer,
    /// Pad id from the file's own padding settings, read before padding is switched off.
    padding_id: Option<u32>,
    /// Exact shortcut through a `BertNormalizer` (see bert_shortcut.rs).
    shortcut: Option<BertShortcut>,
}

fn set_error(error: *mut *mut c_char, message: &str) {
    if error.is_null() {
        return;
    }
    // Interior NUL bytes cannot appear in a C string; replace them so the message survives.
    let clean = message.replace('\0', "\\0");
    let owned = CString::new(clean).unwrap_or_else(|_| CString::new("error").unwrap());
    unsafe { *error = owned.into_raw() };
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("tokenizer panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("tokenizer panicked: {s}")
    } else {
        "tokenizer panicked".to_string()
    }
}

/// A handle made under catch_unwind, or NULL with `*error` set from its error or panic.
fn into_handle<T>(
    result: std::thread::Result<Result<*mut T, String>>,
    error: *mut *mut c_char,
) -> *mut T {
    match result {
        Ok(Ok(handle)) => handle,
        Ok(Err(message)) => {
            set_error(error, &message);
            ptr::null_mut()
        }
        Err(payload) => {
            set_error(error, &panic_message(payload));
            ptr::null_mut()
        }
    }
}

/// The `catch_unwind` result of an entry point that returns a count: the count, or -1 with the
/// error (or the panic's message) written to `error`. One place for every counting entry point.
fn into_count(result: std::thread::Result<Result<i64, String>>, error: *mut *mut c_char) -> i64 {
    match result {
        Ok(Ok(n)) => n,
        Ok(Err(message)) => {
            set_error(error, &message);
            -1
        }
        Err(payload) => {
            set_error(error, &panic_message(payload));
            -1
        }
    }
}

/// Bytes from C as text. The core only ever passes UTF-8 (N-API converts JS strings, with lone
/// surrogates already replaced by U+FFFD); anything else is replaced the same way, never trusted.
unsafe fn text_from<'a>(data: *const c_char, len: usize) -> std::borrow::Cow<'a, str> {
    if data.is_null() || len == 0 {
        return std::borrow::Cow::Borrowed("");
    }
    let bytes = std::slice::from_raw_parts(data as *const u8, len);
    String::from_utf8_lossy(bytes)
}

/// Loads `tokenizer.json` from `path` and configures it for pair encoding: truncation
/// `longest_first` to `max_length` tokens (special tokens included) from the right, or from
/// the left when `truncate_left` is non-zero; padding switched off. `shortcut` non-zero enables
/// the exact BERT shortcut; zero keeps the crate's own path for every text.
/// Returns NULL and sets `*error` on failure.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `error` is NULL or points to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn crt_tokenizer_load(
    path: *const c_char,
    max_length: usize,
    truncate_left: i32,
    shortcut: i32,
    error: *mut *mut c_char,
) -> *mut CrtTokenizer {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<*mut CrtTokenizer, String> {
        if path.is_null() {
            return Err("tokenizer path is NULL".into());
        }
        let path = CStr::from_ptr(path)
            .to_str()
            .map_err(|_| "tokenizer path is not valid UTF-8".to_string())?;
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| format!("{e}"))?;
        if max_length == 0 {
            return Err("max_length must be positive".into());
        }
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: if truncate_left != 0 {
                    TruncationDirection::Left
                } else {
                    TruncationDirection::Right
                },
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| format!("{e}"))?;
        let padding_id = tokenizer.get_padding().map(|p| p.pad_id);
        tokenizer.with_padding(None);
        // After truncation and padding are set: the shortcut copies the tokenizer. One that cannot
        // be built is not used; the tokenizer's own path is always complete.
        let shortcut = if shortcut != 0 {
            BertShortcut::new(&tokenizer).ok().flatten()
        } else {
            None
        };
        Ok(Box::into_raw(Box::new(CrtTokenizer {
            inner: tokenizer,
            padding_id,
            shortcut,
        })))
    }));
    into_handle(result, error)
}

/// Frees a tokenizer from `crt_tokenizer_load`.
///
/// # Safety
/// `tokenizer` is NULL or a handle from `crt_tokenizer_load` not freed before, and no other
/// thread uses it any more.
#[no_mangle]
pub unsafe extern "C" fn crt_tokenizer_free(tokenizer: *mut CrtTokenizer) {
    if !tokenizer.is_null() {
        drop(Box::from_raw(tokenizer));
    }
}

/// Frees an error string that a function of this crate wrote to `*error`.
///
/// # Safety
/// `s` is NULL or such a string, not freed before.
#[no_mangle]
pub unsafe extern "C" fn crt_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

/// Id of `token` (a NUL-terminated UTF-8 string) in the vocabulary, added tokens included;
/// -1 when absent.
///
/// # Safety
/// `tokenizer` is NULL or a live handle; `token` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn crt_tokenizer_token_to_id(
    tokenizer: *const CrtTokenizer,
    token: *const c_char,
) -> i64 {
    if tokenizer.is_null() || token.is_null() {
        return -1;
    }
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(token) = CStr::from_ptr(token).to_str() else {
            return -1;
        };
        match (*tokenizer).inner.token_to_id(token) {
            Some(id) => id as i64,
            None => -1,
        }
    }))
    .unwrap_or(-1)
}

/// The pad id recorded in the tokenizer's own padding settings; -1 when it has none.
///
/// # Safety
/// `tokenizer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn crt_tokenizer_padding_id(tokenizer: *const CrtTokenizer) -> i64 {
    if tokenizer.is_null() {
        return -1;
    }
    match (*tokenizer).padding_id {
        Some(id) => id as i64,
        None => -1,
    }
}

/// Vocabulary size including added tokens: the smallest embedding table the ids fit.
///
/// # Safety
/// `tokenizer` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn crt_tokenizer_vocab_size(tokenizer: *const CrtTokenizer) -> usize {
    if tokenizer.is_null() {
        return 0;
    }
    catch_unwind(AssertUnwindSafe(|| (*tokenizer).inner.get_vocab_size(true))).unwrap_or(0)
}

/// Encodes `first` (and `second` when it is not NULL) as one input of a cross-encoder: the ids
/// of `Tokenizer::encode_fast(first or (first, second), true)`, a pair by the same steps as
/// `crt_encode_with_query` (`encode_single` per text, then `post_process`).
/// Writes the token ids and type ids into the caller's arrays of `capacity` entries and
/// returns the number of tokens, which never exceeds the max length given at load.
/// Returns -1 and sets `*error` on failure (for example when `capacity` is too small or the
/// max length cannot hold the special tokens).
///
/// # Safety
/// `tokenizer` is NULL or a live handle; `first` and `second` are NULL or point to `first_len`
/// and `second_len` readable bytes (`second` NULL: a single text); `ids` and `type_ids` are NULL
/// or hold `capacity` writable entries; `error` is NULL or points to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn crt_encode(
    tokenizer: *const CrtTokenizer,
    first: *const c_char,
    first_len: usize,
    second: *const c_char,
    second_len: usize,
    ids: *mut u32,
    type_ids: *mut u32,
    capacity: usize,
    error: *mut *mut c_char,
) -> i64 {
    if tokenizer.is_null() || ids.is_null() || type_ids.is_null() {
        set_error(error, "crt_encode: NULL argument");
        return -1;
    }
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<i64, String> {
        let tokenizer = &*tokenizer;
        let a = text_from(first, first_len);
        if second.is_null() {
            let shortcut = tokenizer
                .shortcut
                .as_ref()
                .and_then(|shortcut| shortcut.encode(&a, None));
            // Offsets are not needed: encode_fast skips computing them.
            let encoding = match shortcut {
                Some(encoding) => encoding,
                None => tokenizer.inner.encode_fast(a, true),
            }
            .map_err(|e| format!("{e}"))?;
            return write_encoding(&encoding, ids, type_ids, capacity);
        }
        // A pair: each text alone, then the crate's post_process, as encode_fast does; through
        // the shortcut only when it takes both texts (as BertShortcut::encode decides).
        let b = text_from(second, second_len);
        let via_shortcut = match encode_alone(tokenizer, true, &a, 0) {
            Some(first) => encode_alone(tokenizer, true, &b, 1).map(|second| (first, second)),
            None => None,
        };
        let (first, second) = match via_shortcut {
            Some((first, second)) => (first?, second?),
            None => (
                encode_alone(tokenizer, false, &a, 0).expect("own path always runs")?,
                encode_alone(tokenizer, false, &b, 1).expect("own path always runs")?,
            ),
        };
        let encoding = tokenizer
            .inner
            .post_process(first, Some(second), true)
            .map_err(|e| format!("{e}"))?;
        write_encoding(&encoding, ids, type_ids, capacity)
    }));
    into_count(result, error)
}

/// Encodes one text without the post-processor's special tokens (`encode_fast(text, false)`):
/// what transformers' `apply_chat_template(tokenize=True)` does with the rendered prompt of an LLM
/// reranker (add_special_tokens=False: the template writes its own BOS). Truncation as loaded.
/// Never through the BERT shortcut, which always adds them.
///
/// # Safety
/// As `crt_encode`, with `text` NULL or pointing to `text_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn crt_encode_text(
    tokenizer: *const CrtTokenizer,
    text: *const c_char,
    text_len: usize,
    ids: *mut u32,
    type_ids: *mut u32,
    capacity: usize,
    error: *mut *mut c_char,
) -> i64 {
    if tokenizer.is_null() || ids.is_null() || type_ids.is_null() {
        set_error(error, "crt_encode_text: NULL argument");
        return -1;
    }
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<i64, String> {
        let tokenizer = &*tokenizer;
        let a = text_from(text, text_len);
        let encoding = tokenizer.inner.encode_fast(a, false).map_err(|e| format!("{e}"))?;
        write_encoding(&encoding, ids, type_ids, capacity)
    }));
    into_count(result, error)
}

/// Writes an encoding's ids and type ids into the caller's arrays of `capacity` entries.
unsafe fn write_encoding(
    encoding: &Encoding,
    ids: *mut u32,
    type_ids: *mut u32,
    capacity: usize,
) -> Result<i64, String> {
    let got_ids = encoding.get_ids();
    let got_types = encoding.get_type_ids();
    if got_ids.len() > capacity {
        return Err(format!(
            "encoding has {} tokens but the buffer holds {}",
            got_ids.len(),
            capacity
        ));
    }
    ptr::copy_nonoverlapping(got_ids.as_ptr(), ids, got_ids.len());
    ptr::copy_nonoverlapping(got_types.as_ptr(), type_ids, got_types.len());
    Ok(got_ids.len() as i64)
}

/// The first text of many pairs (a rerank query), encoded once: `crt_query_encode`.
///
/// The crate encodes a pair as `post_process(encode_single_sequence(first, 0),
/// Some(encode_single_sequence(second, 1)), true)` (`TokenizerImpl::encode_fast`): each text on
/// its own, then truncation and the post-processor's template over both. The first text's part
/// depends on nothing else, so it is kept here (`encode_single`), and `crt_encode_with_query`
/// runs only the second's part and `post_process`, as `crt_encode` does for a pair. A 1 MB query
/// is normalized and pre-tokenized once per call instead of once per document.
pub struct CrtQuery {
    /// Through the BERT shortcut; None when the tokenizer has none or the text is outside its
    /// cases (then every pair takes the crate's own path, as `crt_encode` would).
    shortcut: Option<Encoding>,
    /// Through the crate's own path, made on first need: only for pairs whose second text the
    /// shortcut refuses, since `crt_encode` then takes the own path for both texts.
    own: OnceLock<Result<Encoding, String>>,
    text: String,
}

/// `encode_single_sequence(text, type_id, OffsetType::None)` of `tokenizer` (private in the
/// crate), by the same public steps in the same order (tokenizers =0.23.2,
/// src/tokenizer/mod.rs: `encode_single_sequence`, `do_pre_tokenize`, `do_tokenize`): added
/// tokens and normalization, pre-tokenization, the model with the truncation's early exit, the
/// encoding. `encode_fast` runs this for each text of a pair (type id 0, then 1), then
/// `post_process`. The pinned crate version keeps these steps from changing under us; the
/// tests compare every path with `encode_fast`.
pub(crate) fn encode_single<M, N, PT, PP, D>(
    tokenizer: &TokenizerImpl<M, N, PT, PP, D>,
    text: &str,
    type_id: u32,
) -> tokenizers::Result<Encoding>
where
    M: Model,
    N: Normalizer,
    PT: PreTokenizer,
    PP: tokenizers::tokenizer::PostProcessor,
    D: tokenizers::tokenizer::Decoder,
{
    let mut pretokenized = tokenizer
        .get_added_vocabulary()
        .extract_and_normalize(tokenizer.get_normalizer(), text);
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        pre_tokenizer.pre_tokenize(&mut pretokenized)?;
    }
    // Each text stops after max_length tokens (the crate's early exit), so longest_first then
    // compares these counts, as encode_fast does.
    let limit = match tokenizer.get_truncation() {
        Some(TruncationParams {
            direction,
            max_length,
            strategy,
            ..
        }) if *strategy != TruncationStrategy::OnlySecond || type_id != 0 => {
            Some((*max_length, *direction))
        }
        _ => None,
    };
    tokenizer
        .get_model()
        .tokenize_in_pretokenized(&mut pretokenized, limit)?;
    pretokenized.into_encoding(None, type_id, OffsetType::None)
}

/// One text of a pair encoded alone (`encode_single`), through the BERT shortcut or the
/// tokenizer's own path; None when the shortcut is asked for and does not take this text.
fn encode_alone(
    tokenizer: &CrtTokenizer,
    via_shortcut: bool,
    text: &str,
    type_id: u32,
) -> Option<Result<Encoding, String>> {
    let encoded = if via_shortcut {
        tokenizer.shortcut.as_ref()?.encode_alone(text, type_id)?
    } else {
        encode_single(&tokenizer.inner, text, type_id)
    };
    Some(encoded.map_err(|e| format!("{e}")))
}

/// Encodes `text` as the first text of pairs to come (`crt_encode_with_query`). Returns NULL
/// and sets `*error` on failure. Free with `crt_query_free`.
///
/// # Safety
/// `tokenizer` is NULL or a live handle; `text` is NULL or points to `len` readable bytes;
/// `error` is NULL or points to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn crt_query_encode(
    tokenizer: *const CrtTokenizer,
    text: *const c_char,
    len: usize,
    error: *mut *mut c_char,
) -> *mut CrtQuery {
    if tokenizer.is_null() {
        set_error(error, "crt_query_encode: NULL argument");
        return ptr::null_mut();
    }
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<*mut CrtQuery, String> {
        let tokenizer = &*tokenizer;
        let text = text_from(text, len).into_owned();
        let shortcut = encode_alone(tokenizer, true, &text, 0).transpose()?;
        let own = OnceLock::new();
        if shortcut.is_none() {
            // Every pair takes the own path: make it now, and fail now if it fails.
            let encoding =
                encode_alone(tokenizer, false, &text, 0).expect("own path always runs")?;
            let _ = own.set(Ok(encoding));
        }
        Ok(Box::into_raw(Box::new(CrtQuery {
            shortcut,
            own,
            text,
        })))
    }));
    into_handle(result, error)
}

/// Frees a query from `crt_query_encode`.
///
/// # Safety
/// `query` is NULL or a handle from `crt_query_encode` not freed before, and no other thread
/// uses it any more.
#[no_mangle]
pub unsafe extern "C" fn crt_query_free(query: *mut CrtQuery) {
    if !query.is_null() {
        drop(Box::from_raw(query));
    }
}

/// Encodes the pair (query, `second`) into `ids` and `type_ids` like `crt_encode` with the
/// query's text as `first`: same ids, same errors, without encoding the query again.
///
/// # Safety
/// As `crt_encode`; `query` is NULL or a live handle from `crt_query_encode` made with the same
/// `tokenizer`. One query may be used from many threads at once.
#[no_mangle]
pub unsafe extern "C" fn crt_encode_with_query(
    tokenizer: *const CrtTokenizer,
    query: *const CrtQuery,
    second: *const c_char,
    second_len: usize,
    ids: *mut u32,
    type_ids: *mut u32,
    capacity: usize,
    error: *mut *mut c_char,
) -> i64 {
    if tokenizer.is_null() || query.is_null() || ids.is_null() || type_ids.is_null() {
        set_error(error, "crt_encode_with_query: NULL argument");
        return -1;
    }
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<i64, String> {
        let tokenizer = &*tokenizer;
        let query = &*query;
        let b = text_from(second, second_len);
        // crt_encode takes the shortcut only when it accepts both texts.
        let via_shortcut = match &query.shortcut {
            Some(first) => encode_alone(tokenizer, true, &b, 1).map(|second| (first, second)),
            None => None,
        };
        let (first, second) = match via_shortcut {
            Some((first, second)) => (first, second?),
            None => {
                let first = query
                    .own
                    .get_or_init(|| {
                        encode_alone(tokenizer, false, &query.text, 0)
                            .expect("own path always runs")
                    })
                    .as_ref()
                    .map_err(|e| e.clone())?;
                (
                    first,
                    encode_alone(tokenizer, false, &b, 1).expect("own path always runs")?,
                )
            }
        };
        // The query's encoding holds at most about max_length tokens (the early exit), so this
        // clone is small whatever the query's size.
        let encoding = tokenizer
            .inner
            .post_process(first.clone(), Some(second), true)
            .map_err(|e| format!("{e}"))?;
        write_encoding(&encoding, ids, type_ids, capacity)
    }));
    into_count(result, error)
}

/// Byte offsets into `text` (UTF-8, as passed) of each token of `text` encoded alone: no special
/// tokens, no truncation, the tokenizer's own path (normalizer alignments map each token back to
/// the original bytes, so a stripped accent or a lowercased letter keeps its original span): the
/// offsets of the crate's `encode(text, false)` with truncation off.
/// Used to cut long documents into token windows (MaxP chunking); `crt_encode` is untouched.
/// Returns the token count n and, when n <= `capacity`, writes `offsets[2i]` = start and
/// `offsets[2i + 1]` = end of token i; when n > `capacity` writes nothing (call again with room
/// for n). -1 with `*error` set on failure.
///
/// # Safety
/// `tokenizer` is NULL or a live handle; `text` is NULL or points to `len` readable bytes;
/// `offsets` is NULL (then `capacity` must be 0) or holds `2 * capacity` writable entries;
/// `error` is NULL or points to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn crt_token_offsets(
    tokenizer: *const CrtTokenizer,
    text: *const c_char,
    len: usize,
    offsets: *mut u32,
    capacity: usize,
    error: *mut *mut c_char,
) -> i64 {
    if tokenizer.is_null() || (offsets.is_null() && capacity > 0) {
        set_error(error, "crt_token_offsets: NULL argument");
        return -1;
    }
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<i64, String> {
        let inner = &(*tokenizer).inner;
        let text = text_from(text, len);
        let mut pretokenized = inner
            .get_added_vocabulary()
            .extract_and_normalize(inner.get_normalizer(), &text);
        if let Some(pre_tokenizer) = inner.get_pre_tokenizer() {
            pre_tokenizer
                .pre_tokenize(&mut pretokenized)
                .map_err(|e| format!("{e}"))?;
        }
        // No limit: every token of the text, however long.
        inner
            .get_model()
            .tokenize_in_pretokenized(&mut pretokenized, None)
            .map_err(|e| format!("{e}"))?;
        let encoding = pretokenized
            .into_encoding(None, 0, OffsetType::Byte)
            .map_err(|e| format!("{e}"))?;
        // The post-processor without special tokens, as the crate's encode(text, false) runs it
        // (byte-level BPE trims spaces from offsets there), but without TokenizerImpl::post_process's
        // truncation.
        let encoding = match inner.get_post_processor() {
            Some(processor) => tokenizers::tokenizer::PostProcessor::process(processor, encoding, None, false)
                .map_err(|e| format!("{e}"))?,
            None => encoding,
        };
        let got = encoding.get_offsets();
        if got.len() <= capacity {
            for (i, &(start, end)) in got.iter().enumerate() {
                let (start, end) = (u32::try_from(start), u32::try_from(end));
                match (start, end) {
                    (Ok(start), Ok(end)) => {
                        *offsets.add(2 * i) = start;
                        *offsets.add(2 * i + 1) = end;
                    }
                    _ => return Err("text too long for 32-bit offsets".into()),
                }
            }
        }
        Ok(got.len() as i64)
    }));
    into_count(result, error)
}

#[cfg(test)]
mod query_tests {
    //! The pair path (`crt_encode`) and the query-once path (`crt_query_encode` +
    //! `crt_encode_with_query`) against the crate's own `encode_fast((first, second), true)`:
    //! same return value, ids and type ids, for every fixture tokenizer, with and without the BERT
    //! shortcut, truncating from either side, at max lengths that cut the parity pairs, long
    //! queries and long documents.
    use super::*;

    struct Handle(*mut CrtTokenizer);
    impl Drop for Handle {
        fn drop(&mut self) {
            unsafe { crt_tokenizer_free(self.0) }
        }
    }

    fn load(model: &str, max_length: usize, left: bool, shortcut: bool) -> Handle {
        let path = format!(
            "{}/../../test/fixtures/models/{model}/tokenizer.json\0",
            env!("CARGO_MANIFEST_DIR")
        );
        let handle = unsafe {
            crt_tokenizer_load(
                path.as_ptr() as *const c_char,
                max_length,
                left as i32,
                shortcut as i32,
                ptr::null_mut(),
            )
        };
        assert!(!handle.is_null(), "{path}");
        Handle(handle)
    }

    /// (return value, ids, type ids); errors as -1 with empty arrays.
    type Out = (i64, Vec<u32>, Vec<u32>);

    fn pair(t: &Handle, a: &str, b: &str, capacity: usize) -> Out {
        let (mut ids, mut types) = (vec![0u32; capacity], vec![0u32; capacity]);
        let mut error = ptr::null_mut();
        let n = unsafe {
            crt_encode(
                t.0,
                a.as_ptr() as *const c_char,
                a.len(),
                b.as_ptr() as *const c_char,
                b.len(),
                ids.as_mut_ptr(),
                types.as_mut_ptr(),
                capacity,
                &mut error,
            )
        };
        unsafe { crt_string_free(error) };
        let kept = n.max(0) as usize;
        (n, ids[..kept].to_vec(), types[..kept].to_vec())
    }

    fn with_query(t: &Handle, q: *const CrtQuery, b: &str, capacity: usize) -> Out {
        let (mut ids, mut types) = (vec![0u32; capacity], vec![0u32; capacity]);
        let mut error = ptr::null_mut();
        let n = unsafe {
            crt_encode_with_query(
                t.0,
                q,
                b.as_ptr() as *const c_char,
                b.len(),
                ids.as_mut_ptr(),
                types.as_mut_ptr(),
                capacity,
                &mut error,
            )
        };
        unsafe { crt_string_free(error) };
        let kept = n.max(0) as usize;
        (n, ids[..kept].to_vec(), types[..kept].to_vec())
    }

    fn parity_pairs() -> Vec<(String, String)> {
        let path = format!(
            "{}/../../test/fixtures/pairs.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut out = Vec::new();
        for p in json["pairs"].as_array().unwrap() {
            out.push((
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            ));
        }
        for case in json["rank_cases"].as_array().unwrap() {
            let q = case["query"].as_str().unwrap();
            for d in case["documents"].as_array().unwrap() {
                out.push((q.to_string(), d.as_str().unwrap().to_string()));
            }
        }
        out
    }

    /// The crate's own pair encoding, as crt_encode would return it.
    fn reference(t: &Handle, a: &str, b: &str, capacity: usize) -> Out {
        match unsafe { &(*t.0).inner }.encode_fast((a, b), true) {
            Ok(e) if e.len() <= capacity => (
                e.len() as i64,
                e.get_ids().to_vec(),
                e.get_type_ids().to_vec(),
            ),
            _ => (-1, vec![], vec![]),
        }
    }

    /// Checks every pair through all three paths; returns how many of them filled max_length.
    fn check(t: &Handle, cases: &[(String, String)], max_length: usize, what: &str) -> usize {
        let mut truncated = 0;
        let mut i = 0;
        while i < cases.len() {
            // One query for the run of pairs that share it, as a rerank call would.
            let q_text = &cases[i].0;
            let mut error = ptr::null_mut();
            let q = unsafe {
                crt_query_encode(
                    t.0,
                    q_text.as_ptr() as *const c_char,
                    q_text.len(),
                    &mut error,
                )
            };
            unsafe { crt_string_free(error) };
            assert!(!q.is_null(), "{what}: query refused");
            while i < cases.len() && &cases[i].0 == q_text {
                let d = &cases[i].1;
                let expected = reference(t, q_text, d, max_length);
                assert_eq!(pair(t, q_text, d, max_length), expected, "{what}: pair {i}");
                assert_eq!(
                    with_query(t, q, d, max_length),
                    expected,
                    "{what}: pair {i}, query once"
                );
                if expected.0 == max_length as i64 {
                    truncated += 1; // filled to the max length: cut, or exactly fitting
                }
                i += 1;
            }
            unsafe { crt_query_free(q) };
        }
        truncated
    }

    #[test]
    fn query_once_gives_the_pair_paths_ids_for_every_fixture_tokenizer() {
        let parity = parity_pairs();
        // Long texts: queries and documents far past the max length, of lengths on either side
        // of each other (the trimming of lib.rs's query_part must keep longest_first's choice).
        let words: Vec<&str> = parity.iter().flat_map(|(_, d)| d.split(' ')).collect();
        let span = |from: usize, n: usize| -> String {
            (0..n)
                .map(|k| words[(from + k) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut long = Vec::new();
        for (k, &nq) in [1usize, 3, 40, 200, 601, 1200].iter().enumerate() {
            for &nd in &[0usize, 1, 2, 39, 41, 200, 201, 599, 602, 1500] {
                long.push((span(k * 7919, nq), span(k * 104729 + nd, nd)));
            }
        }
        for model in ["bert-tiny", "electra-tiny", "roberta-tiny", "xlmr-tiny-3"] {
            for &max_length in &[2usize, 5, 6, 17, 64, 511] {
                for left in [false, true] {
                    for shortcut in [true, false] {
                        let t = load(model, max_length, left, shortcut);
                        let what = format!(
                            "{model} max_length {max_length} left {left} shortcut {shortcut}"
                        );
                        let cut = check(&t, &parity, max_length, &what);
                        if max_length == 64 {
                            assert!(cut > 20, "{what}: only {cut} parity pairs were truncated");
                        }
                        check(&t, &long, max_length, &what);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod offsets_tests {
    //! `crt_token_offsets` against the crate's own `encode(text, false)` with truncation off:
    //! the same byte offsets, for every fixture tokenizer, on long and multi-byte text; and the
    //! capacity protocol (too small: nothing written, the count returned).
    use super::*;

    fn offsets(t: *const CrtTokenizer, text: &str, capacity: usize) -> (i64, Vec<u32>) {
        let mut out = vec![0u32; 2 * capacity];
        let mut error = ptr::null_mut();
        let ptr_out = if capacity == 0 { ptr::null_mut() } else { out.as_mut_ptr() };
        let n = unsafe { crt_token_offsets(t, text.as_ptr() as *const c_char, text.len(), ptr_out, capacity, &mut error) };
        unsafe { crt_string_free(error) };
        (n, out)
    }

    #[test]
    fn token_offsets_are_the_crates_byte_offsets_untruncated() {
        let long = "word ".repeat(700);
        let texts = [
            "Café naïve résumé 😀 東京タワー the river 🪨 stone Ünïcödé façade déjà vu crème brûlée 👩\u{200d}👩\u{200d}👧 end",
            long.as_str(),
            "",
            "   ",
            "[SEP] special tokens [CLS] inside text",
        ];
        let root = format!("{}/../../test/fixtures/models", env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path().join("tokenizer.json");
            if !path.exists() {
                continue;
            }
            let c_path = CString::new(path.to_str().unwrap()).unwrap();
            let t = unsafe { crt_tokenizer_load(c_path.as_ptr(), 16, 0, 1, ptr::null_mut()) };
            if t.is_null() {
                continue; // fixtures that are broken on purpose
            }
            let mut reference = Tokenizer::from_file(&path).unwrap();
            reference.with_truncation(None).unwrap();
            for text in texts {
                let expected = reference.encode(text, false).unwrap();
                let want: Vec<u32> = expected.get_offsets().iter().flat_map(|&(a, b)| [a as u32, b as u32]).collect();
                let (n, _) = offsets(t, text, 0);
                assert_eq!(n as usize, want.len() / 2, "{path:?} {text:?}: count");
                let (n2, got) = offsets(t, text, n as usize);
                assert_eq!(n2, n);
                assert_eq!(got, want, "{path:?} {text:?}");
                for pair in got.chunks(2) {
                    assert!(pair[0] <= pair[1] && pair[1] as usize <= text.len());
                }
            }
            unsafe { crt_tokenizer_free(t) };
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} fixture tokenizers were checked");
    }
}
