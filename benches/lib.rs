//! Benchmarks live in `benches/benches/`; this empty library only anchors the crate.
