//! Runs the extractor over a corpus and prints every miss:
//! `cargo run -p numhub-otp --example evaluate [corpus.tsv]`.

use numhub_otp::{corpus, extract};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus.tsv").to_owned());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let samples = corpus::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut misses = 0;
    for sample in &samples {
        let found = extract(&sample.body, sample.sender.as_deref());
        if found.code != sample.expected {
            misses += 1;
            println!(
                "line {} [{}/{}] expected {:?}, got {:?} ({:.2}): {:?}",
                sample.line,
                sample.language,
                sample.service,
                sample.expected.as_deref().unwrap_or("-"),
                found.code.as_deref().unwrap_or("-"),
                found.confidence,
                sample.body
            );
        }
    }
    let total = samples.len();
    println!(
        "{} of {total} exact ({:.2}%), {misses} misses",
        total - misses,
        100.0 * (total - misses) as f64 / total.max(1) as f64
    );
}
