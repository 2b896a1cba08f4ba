//! An exact shortcut through `BertNormalizer` for ASCII text.
//!
//! Profiling `crt_encode` on MS MARCO-like pairs put about 40 % of the time in the normalizer:
//! `NormalizedString` keeps an alignment per byte through clean-up, NFD (accent stripping) and
//! lowercasing, although on ASCII all of it is a byte map. For a tokenizer whose normalizer is a
//! `BertNormalizer`, this module applies that byte map itself and hands the result to a copy of
//! the same tokenizer without a normalizer: same model, added vocabulary, post-processor and
//! truncation, and the same pre-tokenizer (`BertPreTokenizer` in its ASCII form, point 4), so
//! the ids are the same. Text outside the cases proven equal below takes the tokenizer's own
//! path.
//!
//! Why the ids are equal, given the pipeline of `AddedVocabulary::extract_and_normalize`:
//! 1. Added tokens that are not normalized (BERT's `[CLS]`, `[SEP]`, ...) are split out of the
//!    raw text first. Text in which such a token occurs, raw or normalized, is refused here.
//! 2. Each remaining piece is normalized: on ASCII, `BertNormalizer` only drops control
//!    characters, turns `\t`, `\n`, `\r` into spaces (`clean_text`) and lowercases
//!    (`lowercase`). Chinese-character spacing and accent stripping (NFD, then dropping
//!    non-spacing marks) change no ASCII character, and the map works character by character,
//!    so normalizing the pieces equals normalizing the whole text.
//! 3. Normalized added tokens are split out of the normalized text. The copy without a
//!    normalizer matches their raw content, so the shortcut is only enabled when normalizing
//!    each such token's content leaves it unchanged.
//! 4. `BertPreTokenizer` splits on `char::is_whitespace` and isolates `is_ascii_punctuation() ||
//!    is_punctuation()`. On ASCII the second test adds nothing (Unicode's P* characters below 128
//!    are all ASCII punctuation) but costs a table search per character, 14 % of the time left,
//!    so the copy tests ASCII punctuation only. Any other pre-tokenizer is kept as it is.

use aho_corasick::AhoCorasick;
use tokenizers::tokenizer::{
    DecoderWrapper, Encoding, ModelWrapper, NormalizedString, Normalizer, NormalizerWrapper,
    PostProcessorWrapper, PreTokenizedString, PreTokenizer, PreTokenizerWrapper, Result,
    SplitDelimiterBehavior, Tokenizer, TokenizerBuilder, TokenizerImpl,
};

/// The original tokenizer's parts without a normalizer, and with `AsciiPreTokenizer`.
type AsciiTokenizer = TokenizerImpl<
    ModelWrapper,
    NormalizerWrapper,
    AsciiPreTokenizer,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// The tokenizer's own pre-tokenizer, with `BertPreTokenizer` in its ASCII form (point 4 above).
enum AsciiPreTokenizer {
    Bert,
    Other(PreTokenizerWrapper),
}

impl PreTokenizer for AsciiPreTokenizer {
    fn pre_tokenize(&self, pretokenized: &mut PreTokenizedString) -> Result<()> {
        match self {
            AsciiPreTokenizer::Bert => {
                pretokenized.split(|_, s| {
                    s.split(char::is_whitespace, SplitDelimiterBehavior::Removed)
                })?;
                pretokenized.split(|_, s| {
                    s.split(|c: char| c.is_ascii_punctuation(), SplitDelimiterBehavior::Isolated)
                })
            }
            AsciiPreTokenizer::Other(pre_tokenizer) => pre_tokenizer.pre_tokenize(pretokenized),
        }
    }
}

pub struct AsciiFastPath {
    clean_text: bool,
    lowercase: bool,
    /// The same tokenizer (truncation and padding settings included) without its normalizer.
    ascii_tokenizer: AsciiTokenizer,
    /// Added tokens matched before normalization; None when there are none.
    raw_added_tokens: Option<AhoCorasick>,
}

impl AsciiFastPath {
    /// The shortcut for `tokenizer` as configured now, or None when it does not apply: the
    /// normalizer is not a `BertNormalizer`, or a normalized added token would match differently.
    pub fn new(tokenizer: &Tokenizer) -> Result<Option<Self>> {
        let Some(NormalizerWrapper::BertNormalizer(bert)) = tokenizer.get_normalizer() else {
            return Ok(None);
        };
        let mut raw_contents = Vec::new();
        for token in tokenizer.get_added_vocabulary().get_added_tokens_decoder().values() {
            if token.normalized {
                let mut content = NormalizedString::from(token.content.as_str());
                bert.normalize(&mut content)?;
                if content.get() != token.content {
                    return Ok(None);
                }
            } else {
                raw_contents.push(token.content.clone());
            }
        }
        let raw_added_tokens = if raw_contents.is_empty() {
            None
        } else {
            Some(AhoCorasick::new(&raw_contents)?)
        };
        let pre_tokenizer = match tokenizer.get_pre_tokenizer() {
            None => None,
            Some(PreTokenizerWrapper::BertPreTokenizer(_)) => Some(AsciiPreTokenizer::Bert),
            Some(other) => Some(AsciiPreTokenizer::Other(other.clone())),
        };
        let ascii_tokenizer = TokenizerBuilder::new()
            .with_model(tokenizer.get_model().clone())
            .with_normalizer(None)
            .with_pre_tokenizer(pre_tokenizer)
            .with_post_processor(tokenizer.get_post_processor().cloned())
            .with_decoder(None)
            .with_added_vocabulary(tokenizer.get_added_vocabulary().clone())
            .with_truncation(tokenizer.get_truncation().cloned())
            .with_padding(tokenizer.get_padding().cloned())
            .build()?;
        Ok(Some(Self {
            clean_text: bert.clean_text,
            lowercase: bert.lowercase,
            ascii_tokenizer,
            raw_added_tokens,
        }))
    }

    /// Encodes like `Tokenizer::encode_fast(input, true)` on the original tokenizer, or returns
    /// None (nothing done) when `first` or `second` is outside the shortcut's cases.
    pub fn encode(&self, first: &str, second: Option<&str>) -> Option<Result<Encoding>> {
        let first = self.normalize(first)?;
        let encoding = match second {
            None => self.ascii_tokenizer.encode_fast(first, true),
            Some(second) => {
                let second = self.normalize(second)?;
                self.ascii_tokenizer.encode_fast((first, second), true)
            }
        };
        Some(encoding)
    }

    /// `BertNormalizer` applied to ASCII `text`; None for other text and for text in which an
    /// added token that is matched before normalization occurs (before or after it).
    pub fn normalize(&self, text: &str) -> Option<String> {
        if !text.is_ascii() || self.has_raw_added_token(text) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        for byte in text.bytes() {
            let c = if self.clean_text {
                match byte {
                    b'\t' | b'\n' | b'\r' => b' ',
                    // NUL and the other C0 controls and DEL (Unicode Cc): removed.
                    0x00..=0x1f | 0x7f => continue,
                    _ => byte,
                }
            } else {
                byte
            };
            out.push(if self.lowercase { c.to_ascii_lowercase() } else { c } as char);
        }
        if out != text && self.has_raw_added_token(&out) {
            return None;
        }
        Some(out)
    }

    fn has_raw_added_token(&self, text: &str) -> bool {
        self.raw_added_tokens.as_ref().is_some_and(|tokens| tokens.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::tokenizer::{
        AddedToken, TruncationDirection, TruncationParams, TruncationStrategy,
    };

    fn fixture(name: &str) -> Tokenizer {
        let path = format!(
            "{}/../../test/fixtures/models/{name}/tokenizer.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Tokenizer::from_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn truncated(mut tokenizer: Tokenizer, max_length: usize) -> Tokenizer {
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .unwrap();
        tokenizer
    }

    const COMMON: &[&str] = &[
        "a", "b", "e", "k", "q", "z", "A", "B", "Q", "Z", "0", "7", " ", " ", " ", " ", ".", ",",
        "!", "?", "'", "\"", "(", ")", "[", "]", "#", "-", "_", "~", "\\", "\t", "\n", "\r",
        "\x0b", "\x0c", "\x00", "\x01", "\x1b", "\x1f", "\x7f", "##", "Hello", "hello",
        "HELLO", "WORLD", "vaccines", "Immune", "unbelievable",
    ];
    /// Special-token spellings and non-ASCII text: rare, as most texts should take the shortcut.
    const RARE: &[&str] = &[
        "[CLS]", "[cls]", "[SEP]", "[Sep]", "[MASK]", "[mask]", "[PAD]", "[UNK]", "[C\x01LS]",
        "[SE\tP]", "[S\x7fEP]", "\u{e9}", "\u{4e2d}", "\u{a0}",
    ];

    /// Deterministic text (xorshift64), so a failure names a reproducible input.
    struct Texts(u64);
    impl Texts {
        fn next(&mut self) -> String {
            let mut word = || {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            };
            let len = word() % 40;
            (0..len)
                .map(|_| {
                    let w = word();
                    if w % 80 == 0 {
                        RARE[((w >> 8) % RARE.len() as u64) as usize]
                    } else {
                        COMMON[((w >> 8) % COMMON.len() as u64) as usize]
                    }
                })
                .collect()
        }
    }

    /// Encodes many random pairs and single texts both ways; returns how many took the shortcut.
    fn assert_same_ids(tokenizer: &Tokenizer, fast: &AsciiFastPath, seed: u64) -> usize {
        let mut texts = Texts(seed);
        let mut shortcuts = 0;
        for _ in 0..3000 {
            let (a, b) = (texts.next(), texts.next());
            let full = tokenizer.encode_fast((a.as_str(), b.as_str()), true).unwrap();
            if let Some(got) = fast.encode(&a, Some(&b)) {
                let got = got.unwrap();
                assert_eq!(got.get_ids(), full.get_ids(), "{a:?} / {b:?}");
                assert_eq!(got.get_type_ids(), full.get_type_ids(), "{a:?} / {b:?}");
                shortcuts += 1;
            }
            let full = tokenizer.encode_fast(a.as_str(), true).unwrap();
            if let Some(got) = fast.encode(&a, None) {
                assert_eq!(got.unwrap().get_ids(), full.get_ids(), "{a:?}");
            }
        }
        shortcuts
    }

    #[test]
    fn same_ids_as_the_full_pipeline_for_every_bert_normalizer_setting() {
        let settings = [
            BertNormalizer::new(true, true, None, true),
            BertNormalizer::new(true, true, None, false),
            BertNormalizer::new(false, false, Some(true), true),
            BertNormalizer::new(false, true, Some(false), false),
        ];
        for name in ["bert-tiny", "electra-tiny"] {
            for (i, setting) in settings.iter().enumerate() {
                for max_length in [512, 11] {
                    let mut tokenizer = truncated(fixture(name), max_length);
                    tokenizer.with_normalizer(Some(*setting)).unwrap();
                    let fast = AsciiFastPath::new(&tokenizer).unwrap().expect("BertNormalizer");
                    let shortcuts = assert_same_ids(&tokenizer, &fast, 0x9e37_79b9 + i as u64);
                    // Most pairs take the shortcut, and the refusals are exercised too.
                    assert!((1000..3000).contains(&shortcuts), "{name} {i}: {shortcuts} of 3000");
                }
            }
        }
    }

    #[test]
    fn every_ascii_character_splits_as_in_the_full_pipeline() {
        for lowercase in [true, false] {
            let mut tokenizer = fixture("bert-tiny");
            tokenizer
                .with_normalizer(Some(BertNormalizer::new(false, false, None, lowercase)))
                .unwrap();
            let fast = AsciiFastPath::new(&tokenizer).unwrap().unwrap();
            for c in (0u8..128).map(char::from) {
                let text = format!("ab{c}cd {c}x{c}{c}");
                let full = tokenizer.encode_fast(text.as_str(), true).unwrap();
                let got = fast.encode(&text, None).expect("ASCII").unwrap();
                assert_eq!(got.get_ids(), full.get_ids(), "{c:?}");
            }
        }
    }

    #[test]
    fn refuses_text_that_spells_an_unnormalized_added_token() {
        let mut tokenizer = fixture("bert-tiny");
        tokenizer
            .with_normalizer(Some(BertNormalizer::new(true, true, None, false)))
            .unwrap();
        let fast = AsciiFastPath::new(&tokenizer).unwrap().unwrap();
        assert_eq!(fast.normalize("a [CLS] b"), None);
        // Only after clean-up does it spell [CLS]: the full pipeline sees plain text.
        assert_eq!(fast.normalize("a [C\x01LS] b"), None);
        assert_eq!(fast.normalize("a\t[cls]\x7f b"), Some("a [cls] b".to_string()));
        assert_eq!(fast.normalize("caf\u{e9}"), None);
    }

    #[test]
    fn normalized_added_tokens_keep_the_shortcut_only_when_normalizing_leaves_them_unchanged() {
        let mut tokenizer = fixture("bert-tiny");
        tokenizer.add_tokens([AddedToken::from("hello", false)]).unwrap();
        let fast = AsciiFastPath::new(&tokenizer).unwrap().expect("'hello' is already normalized");
        assert!(assert_same_ids(&tokenizer, &fast, 7) > 1000);

        tokenizer.add_tokens([AddedToken::from("WoRLD", false)]).unwrap();
        assert!(AsciiFastPath::new(&tokenizer).unwrap().is_none());
    }

    #[test]
    fn only_for_a_bert_normalizer() {
        assert!(AsciiFastPath::new(&fixture("roberta-tiny")).unwrap().is_none());
        assert!(AsciiFastPath::new(&fixture("xlmr-tiny-3")).unwrap().is_none());
        assert!(AsciiFastPath::new(&fixture("bert-tiny")).unwrap().is_some());
    }
}
