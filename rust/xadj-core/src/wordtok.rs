//! The built-in word tokenizer for raw text (to be written).

pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    text.split_whitespace().for_each(&mut f);
}
