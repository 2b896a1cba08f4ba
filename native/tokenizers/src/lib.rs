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

use tokenizers::tokenizer::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

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

/// Encodes `first` (and `second` when it is not NULL) as one input of a cross-encoder.
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
        let b = (!second.is_null()).then(|| text_from(second, second_len));
        let shortcut = tokenizer
            .shortcut
            .as_ref()
            .and_then(|shortcut| shortcut.encode(&a, b.as_deref()));
        // Offsets are not needed: encode_fast skips computing them.
        let encoding = match shortcut {
            Some(encoding) => encoding,
            None => match b {
                None => tokenizer.inner.encode_fast(a, true),
                Some(b) => tokenizer.inner.encode_fast((a, b), true),
            },
        }
        .map_err(|e| format!("{e}"))?;
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
    }));
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
