//! The search box's query language (`phone:`, `"phrases"`, `status:`, dates...): parsing any
//! text must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = inbox_search::domain::query::parse(text);
    }
});
