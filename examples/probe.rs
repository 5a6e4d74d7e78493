use std::time::Instant;
fn main() {
    let data = std::fs::read_to_string(
        &std::env::var("PROBE").unwrap_or("/tmp/tasnif-corpus/docs.jsonl".into()),
    )
    .unwrap();
    let texts: Vec<String> = data
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let c = tasnif::Classifier::embedded().unwrap();
    let opts = tasnif::Options::default();
    for _ in 0..5 {
        let t = Instant::now();
        let mut n = 0usize;
        for x in &texts {
            tasnif::text::tokenize::for_each_raw_word(x, |w| n += w.len());
        }
        println!("scan words {:?} {n}", t.elapsed());
        let t = Instant::now();
        let mut n = 0usize;
        for x in &texts {
            n += tasnif::text::segment(x).len();
        }
        println!("segment {:?} {n}", t.elapsed());
        let t = Instant::now();
        let mut n = 0usize;
        for x in &texts {
            for s in tasnif::text::segment(x) {
                let mut sc = vec![0.0; 4];
                n += c.scorer().scores(s.text(x), &mut sc).tokens as usize;
            }
        }
        println!("segment+score {:?} {n}", t.elapsed());
        let t = Instant::now();
        let mut n = 0usize;
        for x in &texts {
            n += c.classify(x, &opts).unwrap().segments.len();
        }
        println!("classify {:?} {n}", t.elapsed());
    }
}
