//! Schema versions, stepped forward in order. A released step is never
//! edited; a database newer than this build is refused.

use super::Error;

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 2;

const KEY: &[u8] = b"schema_version";

/// Brings `meta`'s database up to `SCHEMA_VERSION`; returns the version.
pub fn run(meta: &sled::Tree) -> Result<u32, Error> {
    let mut version = read(meta)?;
    if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        // v1: the initial layout (userid_user, username_userid,
        // tokenhash_token, userid_tokenhash, meta). Nothing to convert.
        version = write(meta, 1)?;
    }
    if version < 2 {
        // v2: task records (taskid_task, created_taskid,
        // usercreated_taskid). New trees only.
        version = write(meta, 2)?;
    }
    Ok(version)
}

fn read(meta: &sled::Tree) -> Result<u32, Error> {
    match meta.get(KEY)? {
        None => Ok(0),
        Some(bytes) => {
            let raw: [u8; 4] = bytes.as_ref().try_into().map_err(|_| Error::Corrupt {
                tree: "meta",
                key: "schema_version".into(),
                reason: format!("{} bytes, expected 4", bytes.len()),
            })?;
            Ok(u32::from_be_bytes(raw))
        }
    }
}

fn write(meta: &sled::Tree, version: u32) -> Result<u32, Error> {
    meta.insert(KEY, &version.to_be_bytes())?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.open_tree("meta").unwrap()
    }

    #[test]
    fn fresh_database_gets_current_version() {
        let meta = meta();
        assert_eq!(run(&meta).unwrap(), SCHEMA_VERSION);
        assert_eq!(run(&meta).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn newer_database_is_refused() {
        let meta = meta();
        meta.insert(KEY, &(SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
        assert!(matches!(run(&meta), Err(Error::TooNew { .. })));
    }
}
