//! Shared helpers of the criterion benches in `benches/benches/`.

use std::path::{Path, PathBuf};

/// `shared/data` of the project: beside the checkout (`../shared`) or inside it.
pub fn shared_data() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .flat_map(|dir| [dir.join("shared/data"), dir.join("../shared/data")])
        .find(|dir| dir.is_dir())
}

/// Multi30k's training side in `lang` (`en`, `fr`, ...), if the shared data has it.
pub fn multi30k_train(lang: &str) -> Option<PathBuf> {
    let path = shared_data()?.join(format!("bitext/multi30k/train.{lang}.gz"));
    path.is_file().then_some(path)
}
