//! Store records as read back from the database or a backup: the version
//! byte and bincode of `User`, `Token` and `Task`, and whole backup files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;

fuzz_target!(|data: &[u8]| {
    // Whatever decodes must encode again and decode to the same value.
    if let Ok(user) = fuzzing::decode_user(data) {
        let bytes = fuzzing::encode_user(&user).expect("a decoded user encodes");
        assert_eq!(fuzzing::decode_user(&bytes).expect("re-decode"), user);
    }
    if let Ok(token) = fuzzing::decode_token(data) {
        let bytes = fuzzing::encode_token(&token).expect("a decoded token encodes");
        assert_eq!(fuzzing::decode_token(&bytes).expect("re-decode"), token);
    }
    if let Ok(task) = fuzzing::decode_task(data) {
        let bytes = fuzzing::encode_task(&task).expect("a decoded task encodes");
        assert_eq!(fuzzing::decode_task(&bytes).expect("re-decode"), task);
    }
    // A backup file; a second input shape: the magic line prepended, so
    // the fuzzer need not find it first.
    let _ = projetyd::store::backup::read(data, |_, _, _| Ok(()));
    let mut with_magic = b"PROJETYD-BACKUP 1\n".to_vec();
    with_magic.extend_from_slice(data);
    let _ = projetyd::store::backup::read(&with_magic[..], |_, _, _| Ok(()));
});
