//! Fuzz target: lvslab's playbook handling on arbitrary UTF-8 text (user files are UTF-8; anything
//! else is refused by the file read before this code runs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        lvslab::fuzz::playbook(text);
    }
});
