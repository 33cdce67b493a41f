//! Replies from the master's request server (and job-cache files), decoded
//! and read the way the client reads them: error checks, publish loads,
//! wheel `key.list_all` data, minion returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;
use projetyd::salt::wire;
use rmpv::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = wire::decode(data) else { return };
    let _ = wire::check_reply(&reply);
    let _ = wire::text(&reply);
    // A publish reply.
    if let Some(load) = wire::get(&reply, "load") {
        let _ = wire::strings(wire::get(load, "minions"));
        let _ = wire::strings(wire::get(load, "missing"));
    }
    // A wheel reply.
    if let Some(data) = wire::get(&reply, "data") {
        let ret = wire::get(data, "return");
        let _ = wire::get(data, "success").and_then(Value::as_bool);
        let _ = ret.and_then(wire::text);
        for name in [
            "local",
            "minions",
            "minions_pre",
            "minions_rejected",
            "minions_denied",
        ] {
            let _ = wire::strings(ret.and_then(|r| wire::get(r, name)));
        }
    }
    // `return.p` and `.minions.p` in the job cache, and event data.
    let _ = fuzzing::return_from_data(&reply);
    let _ = wire::strings(Some(&reply));
});
