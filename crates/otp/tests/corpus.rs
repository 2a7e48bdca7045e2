//! The extractor against a corpus of realistic messages in many languages:
//! at least 99% exact, and never a code where a message carries none.
//! `cargo run -p numhub-otp --example evaluate` prints the misses.

use std::collections::HashSet;

use numhub_otp::{corpus, extract};

const CORPUS: &str = include_str!("corpus.tsv");

#[test]
fn the_corpus_is_broad() {
    let samples = corpus::parse(CORPUS).unwrap();
    assert!(samples.len() >= 400, "{} messages", samples.len());
    let languages: HashSet<&str> = samples.iter().map(|s| s.language.as_str()).collect();
    assert!(languages.len() >= 15, "{} languages", languages.len());
    let services: HashSet<&str> = samples.iter().map(|s| s.service.as_str()).collect();
    assert!(services.len() >= 60, "{} services", services.len());
    assert!(samples.iter().filter(|s| s.expected.is_none()).count() >= 50);
}

#[test]
fn at_least_99_percent_exact_and_no_code_where_there_is_none() {
    let samples = corpus::parse(CORPUS).unwrap();
    let mut misses = Vec::new();
    let mut false_codes = Vec::new();
    for sample in &samples {
        let found = extract(&sample.body, sample.sender.as_deref());
        if found.code != sample.expected {
            let miss = format!(
                "line {}: expected {:?}, got {:?}",
                sample.line, sample.expected, found.code
            );
            if sample.expected.is_none() {
                false_codes.push(miss);
            } else {
                misses.push(miss);
            }
        }
        if found.code.is_none() {
            assert_eq!(found.confidence, 0.0);
        } else {
            assert!(found.confidence > 0.0 && found.confidence <= 1.0);
        }
    }
    assert!(
        false_codes.is_empty(),
        "codes found where there are none: {false_codes:#?}"
    );
    let exact = samples.len() - misses.len();
    assert!(
        exact * 100 >= samples.len() * 99,
        "{exact} of {} exact; misses: {misses:#?}",
        samples.len()
    );
}
