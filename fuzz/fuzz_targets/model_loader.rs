//! The model loader on arbitrary bytes (and, from the seed corpus, mutated valid model
//! files): it must answer an error, never panic or allocate without bound; a model that
//! loads must classify.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use tasnif::embedding::WordVectors;
use tasnif::{Classifier, Options};

static VECTORS: LazyLock<Arc<WordVectors>> =
    LazyLock::new(|| tasnif::classifier::embedded_vectors().expect("embedded vectors"));

fuzz_target!(|data: &[u8]| {
    // The vectors file parser too, on the same bytes.
    let _ = WordVectors::from_bytes(data);
    let Ok(model) = Classifier::from_bytes_with(data, Some(VECTORS.clone())) else {
        return;
    };
    let k = model.labels().len();
    if let Ok(a) = model.classify(
        "سيطر الجيش على المدينة. واستقبل الرئيس وفدا روسيا.",
        &Options::default(),
    ) {
        assert_eq!(a.shares.len(), k);
        assert!(a.primary < k);
    }
});
