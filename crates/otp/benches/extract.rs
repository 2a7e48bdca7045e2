//! Messages per second through `extract`, over the test corpus:
//! `cargo bench -p numhub-otp --bench extract`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use numhub_otp::{corpus, extract};

fn messages_per_second(c: &mut Criterion) {
    let samples = corpus::parse(include_str!("../tests/corpus.tsv")).expect("corpus");
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for sample in &samples {
                std::hint::black_box(extract(
                    std::hint::black_box(&sample.body),
                    sample.sender.as_deref(),
                ));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, messages_per_second);
criterion_main!(benches);
