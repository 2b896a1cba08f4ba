//! An exact shortcut through `BertNormalizer` and `BertPreTokenizer`.
//!
//! Profiling `crt_encode` on MS MARCO-like pairs put about 40 % of the time in the normalizer:
//! `NormalizedString` keeps an alignment per byte through clean-up, NFD (accent stripping) and
//! lowercasing, although on printable ASCII all of it is a byte map. For a tokenizer whose
//! normalizer is a `BertNormalizer`, this module applies that byte map to the runs of printable
//! ASCII itself, runs the crate's own `BertNormalizer` on the other runs only (non-ASCII text,
//! control characters), and hands the result to a copy of the same tokenizer without a
//! normalizer: same model, added vocabulary, post-processor and truncation, and the same
//! pre-tokenizer (`BertPreTokenizer` with an ASCII fast test, point 5), so the ids are the same.
//! Text outside the cases proven equal below takes the tokenizer's own path.
//!
//! Why the ids are equal, given the pipeline of `AddedVocabulary::extract_and_normalize`:
//! 1. Added tokens that are not normalized (BERT's `[CLS]`, `[SEP]`, ...) are split out of the
//!    raw text first. Text in which such a token occurs, raw or normalized, is refused here, so
//!    the crate would normalize the text as one piece.
//! 2. The text is cut into runs of "plain" bytes (printable ASCII, `\t`, `\n`, `\r`) and runs of
//!    everything else. Cuts fall on character boundaries (UTF-8 continuation bytes are >= 0x80).
//!    `BertNormalizer` is clean-up (per character), Chinese-character spacing (per character),
//!    accent stripping (NFD, then dropping non-spacing marks per character) and lowercasing
//!    (`char::to_lowercase`, per character). Each step maps a plain run to a plain run that is
//!    not empty: on plain bytes clean-up only turns `\t`, `\n`, `\r` into spaces, and the other
//!    steps change nothing but letter case. NFD decomposes per character and reorders only
//!    adjacent combining marks. A plain character has combining class 0, so no reordering
//!    crosses it, and a run of marks after a plain letter is ordered the same with or without
//!    the letter in front. So normalizing each run and joining the results equals normalizing
//!    the whole text. Control characters are not plain on purpose: removed between two
//!    non-plain runs, they would let marks of both be reordered together.
//! 3. Plain runs are normalized here by the byte map; the other runs by the crate's own
//!    `BertNormalizer` with the same settings.
//! 4. Normalized added tokens are split out of the normalized text. The copy without a
//!    normalizer matches their raw content, so the shortcut is only enabled when normalizing
//!    each such token's content leaves it unchanged.
//! 5. `BertPreTokenizer` splits on `char::is_whitespace` and isolates `is_ascii_punctuation() ||
//!    is_punctuation()`. For ASCII the second test adds nothing (Unicode's P* characters below
//!    128 are all ASCII punctuation) but costs a table search per character, 14 % of the time
//!    left, so the copy searches the table for non-ASCII characters only. Any other
//!    pre-tokenizer is kept as it is.

use aho_corasick::AhoCorasick;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::tokenizer::{
    DecoderWrapper, Encoding, ModelWrapper, NormalizedString, Normalizer, NormalizerWrapper,
    PostProcessorWrapper, PreTokenizedString, PreTokenizer, PreTokenizerWrapper, Result,
    SplitDelimiterBehavior, Tokenizer, TokenizerBuilder, TokenizerImpl,
};
use unicode_categories::UnicodeCategories;

/// The original tokenizer's parts without a normalizer, and with `FastPreTokenizer`.
type NormalizedInputTokenizer = TokenizerImpl<
    ModelWrapper,
    NormalizerWrapper,
    FastPreTokenizer,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// The tokenizer's own pre-tokenizer, with `BertPreTokenizer`'s punctuation test fast on ASCII
/// (point 5 above).
enum FastPreTokenizer {
    Bert,
    Other(PreTokenizerWrapper),
}

fn is_bert_punctuation(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_punctuation()
    } else {
        c.is_punctuation()
    }
}

impl PreTokenizer for FastPreTokenizer {
    fn pre_tokenize(&self, pretokenized: &mut PreTokenizedString) -> Result<()> {
        match self {
            FastPreTokenizer::Bert => {
                pretokenized
                    .split(|_, s| s.split(char::is_whitespace, SplitDelimiterBehavior::Removed))?;
                pretokenized
                    .split(|_, s| s.split(is_bert_punctuation, SplitDelimiterBehavior::Isolated))
            }
            FastPreTokenizer::Other(pre_tokenizer) => pre_tokenizer.pre_tokenize(pretokenized),
        }
    }
}

/// Plain bytes between two non-plain runs below which both go to the crate's normalizer in one
/// call, gap included.
const PLAIN_GAP_TO_SPLIT: usize = 8;

/// Printable ASCII and the three whitespace controls: the bytes the shortcut maps itself.
fn is_plain(byte: u8) -> bool {
    matches!(byte, b' '..=b'~' | b'\t' | b'\n' | b'\r')
}

pub struct BertShortcut {
    normalizer: BertNormalizer,
    /// The same tokenizer (truncation and padding settings included) without its normalizer.
    normalized_input_tokenizer: NormalizedInputTokenizer,
    /// Added tokens matched before normalization; None when there are none.
    raw_added_tokens: Option<AhoCorasick>,
}

impl BertShortcut {
    /// The shortcut for `tokenizer` as configured now, or None when it does not apply: the
    /// normalizer is not a `BertNormalizer`, or a normalized added token would match differently.
    pub fn new(tokenizer: &Tokenizer) -> Result<Option<Self>> {
        let Some(NormalizerWrapper::BertNormalizer(bert)) = tokenizer.get_normalizer() else {
            return Ok(None);
        };
        let mut raw_contents = Vec::new();
        for token in tokenizer
            .get_added_vocabulary()
            .get_added_tokens_decoder()
            .values()
        {
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
            Some(PreTokenizerWrapper::BertPreTokenizer(_)) => Some(FastPreTokenizer::Bert),
            Some(other) => Some(FastPreTokenizer::Other(other.clone())),
        };
        let normalized_input_tokenizer = TokenizerBuilder::new()
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
            normalizer: *bert,
            normalized_input_tokenizer,
            raw_added_tokens,
        }))
    }

    /// Encodes like `Tokenizer::encode_fast(input, true)` on the original tokenizer, or returns
    /// None (nothing done) when `first` or `second` is outside the shortcut's cases.
    pub fn encode(&self, first: &str, second: Option<&str>) -> Option<Result<Encoding>> {
        let first = self.normalize(first)?;
        let encoding = match second {
            None => self.normalized_input_tokenizer.encode_fast(first, true),
            Some(second) => {
                let second = self.normalize(second)?;
                self.normalized_input_tokenizer
                    .encode_fast((first, second), true)
            }
        };
        Some(encoding)
    }

    /// Encodes `text` as one text of a pair before truncation and post-processing, like
    /// `encode_single_sequence(text, type_id)` inside the original tokenizer's `encode_fast`
    /// (`crate::encode_single`); None (nothing done) when `text` is outside the shortcut's cases.
    pub fn encode_alone(&self, text: &str, type_id: u32) -> Option<Result<Encoding>> {
        let text = self.normalize(text)?;
        Some(crate::encode_single(
            &self.normalized_input_tokenizer,
            &text,
            type_id,
        ))
    }

    /// `BertNormalizer` applied to `text`; None for text in which an added token that is matched
    /// before normalization occurs (before or after it), and if the crate's normalizer fails.
    pub fn normalize(&self, text: &str) -> Option<String> {
        if self.has_raw_added_token(text) {
            return None;
        }
        let bytes = text.as_bytes();
        let next = |from: usize, plain: bool| {
            bytes[from..]
                .iter()
                .position(|&b| is_plain(b) == plain)
                .map_or(bytes.len(), |n| from + n)
        };
        let mut out = String::with_capacity(text.len());
        let mut start = 0;
        while start < bytes.len() {
            let other = next(start, false);
            self.normalize_plain(&bytes[start..other], &mut out);
            if other == bytes.len() {
                break;
            }
            // One call of the crate's normalizer covers non-plain runs with short plain gaps
            // between them (words of a non-Latin script): a call per run would cost more than
            // the byte map saves. Any cut at a plain byte is exact (point 2).
            let mut end = next(other, true);
            loop {
                let resume = next(end, false);
                if resume == bytes.len() || resume - end >= PLAIN_GAP_TO_SPLIT {
                    break;
                }
                end = next(resume, true);
            }
            // Cut at plain (ASCII) bytes, so on character boundaries.
            let mut chunk = NormalizedString::from(&text[other..end]);
            self.normalizer.normalize(&mut chunk).ok()?;
            out.push_str(chunk.get());
            start = end;
        }
        if out != text && self.has_raw_added_token(&out) {
            return None;
        }
        Some(out)
    }

    /// The byte map `BertNormalizer` is on plain bytes (point 2).
    fn normalize_plain(&self, run: &[u8], out: &mut String) {
        out.extend(run.iter().map(|&byte| {
            let byte = match byte {
                b'\t' | b'\n' | b'\r' if self.normalizer.clean_text => b' ',
                _ => byte,
            };
            char::from(if self.normalizer.lowercase {
                byte.to_ascii_lowercase()
            } else {
                byte
            })
        }));
    }

    fn has_raw_added_token(&self, text: &str) -> bool {
        self.raw_added_tokens
            .as_ref()
            .is_some_and(|tokens| tokens.is_match(text))
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
        "a",
        "b",
        "e",
        "k",
        "q",
        "z",
        "A",
        "B",
        "Q",
        "Z",
        "0",
        "7",
        " ",
        " ",
        " ",
        " ",
        ".",
        ",",
        "!",
        "?",
        "'",
        "\"",
        "(",
        ")",
        "[",
        "]",
        "#",
        "-",
        "_",
        "~",
        "\\",
        "\t",
        "\n",
        "\r",
        "\x0b",
        "\x0c",
        "\x00",
        "\x01",
        "\x1b",
        "\x1f",
        "\x7f",
        "##",
        "Hello",
        "hello",
        "HELLO",
        "WORLD",
        "vaccines",
        "Immune",
        "unbelievable",
    ];
    /// Special-token spellings (refused) and non-ASCII text (normalized by the crate, run by run):
    /// accents precomposed and combining, marks after ASCII letters and between runs (with
    /// controls between them, point 2), case changes that leave ASCII (`İ`, Kelvin sign), final
    /// sigma, CJK, Hangul (NFD decomposes it), Unicode whitespace, punctuation and format
    /// characters, the replacement character, emoji.
    const RARE: &[&str] = &[
        "[CLS]",
        "[cls]",
        "[SEP]",
        "[Sep]",
        "[MASK]",
        "[mask]",
        "[PAD]",
        "[UNK]",
        "[C\x01LS]",
        "[SE\tP]",
        "[S\x7fEP]",
        "\u{e9}",
        "\u{c9}",
        "e\u{301}",
        "\u{301}",
        "\u{323}",
        "\u{301}\x01\u{323}",
        "\u{323}\u{301}",
        "a\u{308}\u{323}",
        "\u{130}",
        "\u{212a}",
        "\u{3a3}\u{3a3}",
        "\u{3c2}",
        "\u{df}",
        "\u{4e2d}\u{6587}",
        "\u{ac00}",
        "\u{a0}",
        "\u{3000}",
        "\u{2028}",
        "\u{85}",
        "\u{200d}",
        "\u{feff}",
        "\u{2013}",
        "\u{201c}",
        "\u{bf}",
        "\u{ff01}",
        "\u{fb01}",
        "\u{fffd}",
        "\u{1f600}",
        "\u{915}\u{93f}",
        "\u{e000}",
        "\u{10ffff}",
        "\u{2f800}",
        "\u{1d16d}\x01\u{1d165}",
        "\u{1d16d}\u{1d165}",
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
                    if w % 12 == 0 {
                        RARE[((w >> 8) % RARE.len() as u64) as usize]
                    } else {
                        COMMON[((w >> 8) % COMMON.len() as u64) as usize]
                    }
                })
                .collect()
        }
    }

    /// Encodes many random pairs and single texts both ways; returns how many took the shortcut.
    fn assert_same_ids(tokenizer: &Tokenizer, fast: &BertShortcut, seed: u64) -> usize {
        let mut texts = Texts(seed);
        let mut shortcuts = 0;
        for _ in 0..3000 {
            let (a, b) = (texts.next(), texts.next());
            let full = tokenizer
                .encode_fast((a.as_str(), b.as_str()), true)
                .unwrap();
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
                    let fast = BertShortcut::new(&tokenizer)
                        .unwrap()
                        .expect("BertNormalizer");
                    let shortcuts = assert_same_ids(&tokenizer, &fast, 0x9e37_79b9 + i as u64);
                    // Most pairs take the shortcut, and the refusals are exercised too.
                    assert!(
                        (1500..2900).contains(&shortcuts),
                        "{name} {i}: {shortcuts} of 3000"
                    );
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
            let fast = BertShortcut::new(&tokenizer).unwrap().unwrap();
            for c in (0u8..128).map(char::from) {
                let text = format!("ab{c}cd {c}x{c}{c}");
                let full = tokenizer.encode_fast(text.as_str(), true).unwrap();
                let got = fast.encode(&text, None).expect("ASCII").unwrap();
                assert_eq!(got.get_ids(), full.get_ids(), "{c:?}");
            }
        }
    }

    #[test]
    fn every_unicode_character_normalizes_and_splits_as_in_the_full_pipeline() {
        let settings = [
            BertNormalizer::new(true, true, None, true),
            BertNormalizer::new(true, true, Some(false), false),
        ];
        for setting in settings {
            let mut tokenizer = fixture("bert-tiny");
            tokenizer.with_normalizer(Some(setting)).unwrap();
            let fast = BertShortcut::new(&tokenizer).unwrap().unwrap();
            // The whole Basic Multilingual Plane, and every 61st character above it.
            let chars = (0x80u32..0x1_0000)
                .chain((0x1_0000..0x11_0000).step_by(61))
                .filter_map(char::from_u32);
            for c in chars {
                // Alone, after and before ASCII letters, and next to a combining mark.
                let text = format!("{c} ab{c}cd {c}x{c}{c}.e\u{301}{c}\u{323}");
                let full = tokenizer.encode_fast(text.as_str(), true).unwrap();
                let got = fast.encode(&text, None).expect("no added token").unwrap();
                assert_eq!(
                    got.get_ids(),
                    full.get_ids(),
                    "U+{:04X} {setting:?}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn combining_marks_on_both_sides_of_a_removed_control_are_ordered_as_one_sequence() {
        // U+1D16D (class 226) and U+1D165 (class 216) are spacing marks, so accent stripping keeps
        // them, and NFD puts U+1D165 first once clean-up has removed the control between them.
        // Split at the control, the two would keep their order: controls are not plain (point 2).
        let mut tokenizer = fixture("bert-tiny");
        tokenizer
            .with_normalizer(Some(BertNormalizer::new(true, true, Some(true), false)))
            .unwrap();
        let fast = BertShortcut::new(&tokenizer).unwrap().unwrap();
        let mut whole = NormalizedString::from("x\u{1d16d}\x01\u{1d165}y");
        BertNormalizer::new(true, true, Some(true), false)
            .normalize(&mut whole)
            .unwrap();
        assert_eq!(whole.get(), "x\u{1d165}\u{1d16d}y");
        assert_eq!(
            fast.normalize("x\u{1d16d}\x01\u{1d165}y").as_deref(),
            Some(whole.get())
        );
        let text = "Caf\u{e9} x\u{1d16d}\x01\u{1d165}y \u{1d16d}\x7f\u{1d165}";
        let full = tokenizer.encode_fast(text, true).unwrap();
        assert_eq!(
            fast.encode(text, None).unwrap().unwrap().get_ids(),
            full.get_ids()
        );
    }

    #[test]
    fn refuses_text_that_spells_an_unnormalized_added_token() {
        let mut tokenizer = fixture("bert-tiny");
        tokenizer
            .with_normalizer(Some(BertNormalizer::new(true, true, None, false)))
            .unwrap();
        let fast = BertShortcut::new(&tokenizer).unwrap().unwrap();
        assert_eq!(fast.normalize("a [CLS] b"), None);
        // Only after clean-up does it spell [CLS]: the full pipeline sees plain text.
        assert_eq!(fast.normalize("a [C\x01LS] b"), None);
        assert_eq!(
            fast.normalize("a\t[cls]\x7f b"),
            Some("a [cls] b".to_string())
        );
        // Non-ASCII text is normalized by the crate, run by run (no lowercasing, so no stripping).
        assert_eq!(
            fast.normalize("Caf\u{e9}\u{3000}[CLS"),
            Some("Caf\u{e9} [CLS".to_string())
        );
    }

    #[test]
    fn normalized_added_tokens_keep_the_shortcut_only_when_normalizing_leaves_them_unchanged() {
        let mut tokenizer = fixture("bert-tiny");
        tokenizer
            .add_tokens([AddedToken::from("hello", false)])
            .unwrap();
        let fast = BertShortcut::new(&tokenizer)
            .unwrap()
            .expect("'hello' is already normalized");
        assert!(assert_same_ids(&tokenizer, &fast, 7) > 1000);

        tokenizer
            .add_tokens([AddedToken::from("WoRLD", false)])
            .unwrap();
        assert!(BertShortcut::new(&tokenizer).unwrap().is_none());
    }

    #[test]
    fn only_for_a_bert_normalizer() {
        assert!(BertShortcut::new(&fixture("roberta-tiny"))
            .unwrap()
            .is_none());
        assert!(BertShortcut::new(&fixture("xlmr-tiny-3"))
            .unwrap()
            .is_none());
        assert!(BertShortcut::new(&fixture("bert-tiny")).unwrap().is_some());
    }
}
