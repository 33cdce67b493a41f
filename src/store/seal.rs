//! The seal: a small file beside sled's own (`<db>/seal`) that records,
//! after every durable flush, what the database held at that moment: a
//! generation that grows with each flush and the user-id high-water mark.
//!
//! sled 0.34 recovers a damaged log by cutting it short at the first torn
//! batch and says so only at debug level, so a flipped byte could make the
//! daemon start with fewer users than it had, or none, and hand out an old
//! user's id again. The seal is written only after sled's data is on
//! stable storage, so at open sled must hold at least the generation the
//! seal promises; anything less is a database that lost writes.
//!
//! The file has two 64-byte slots written in turn (generation parity picks
//! the slot), each with its own checksum: a write torn by a power loss
//! damages one slot and leaves the previous one readable.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The seal's file name inside the database directory.
pub const FILE: &str = "seal";

const MAGIC: &[u8; 8] = b"PYDSEAL1";
const SLOT: usize = 64;
/// Bytes of a slot covered by its checksum (magic, generation, next id).
const BODY: usize = 24;

/// What a seal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Flushes made durable so far.
    pub generation: u64,
    /// The next user id to hand out: every id below it was used once.
    pub next_user_id: u64,
}

/// The open seal file.
pub struct Seal {
    file: File,
    path: PathBuf,
}

/// What the seal file says when the database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// No seal file: a new database, or one written before seals existed.
    Missing,
    /// The newest readable slot.
    Mark(Mark),
    /// The file exists but neither slot is readable.
    Damaged,
}

impl Seal {
    /// Opens (or creates, mode 0600) the seal in directory `dir` and reads it.
    pub fn open(dir: &Path) -> io::Result<(Seal, Found)> {
        let path = dir.join(FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        let found = if existed { read(&file)? } else { Found::Missing };
        Ok((Seal { file, path }, found))
    }

    /// Writes `mark` into its slot and waits until it is on stable storage.
    pub fn write(&self, mark: Mark) -> io::Result<()> {
        let slot = encode(mark);
        let offset = (mark.generation % 2) * SLOT as u64;
        self.file.write_all_at(&slot, offset)?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read(file: &File) -> io::Result<Found> {
    let mut bytes = [0u8; 2 * SLOT];
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    let have = len.min(bytes.len());
    file.read_exact_at(&mut bytes[..have], 0)?;
    let marks = bytes.chunks(SLOT).filter_map(decode);
    Ok(match marks.max_by_key(|mark| mark.generation) {
        Some(mark) => Found::Mark(mark),
        None => Found::Damaged,
    })
}

fn encode(mark: Mark) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    slot[..8].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&mark.generation.to_be_bytes());
    slot[16..24].copy_from_slice(&mark.next_user_id.to_be_bytes());
    let sum = ring::digest::digest(&ring::digest::SHA256, &slot[..BODY]);
    slot[BODY..BODY + 32].copy_from_slice(sum.as_ref());
    slot
}

fn decode(slot: &[u8]) -> Option<Mark> {
    if slot.len() != SLOT || &slot[..8] != MAGIC {
        return None;
    }
    let sum = ring::digest::digest(&ring::digest::SHA256, &slot[..BODY]);
    if sum.as_ref() != &slot[BODY..BODY + 32] {
        return None;
    }
    let word = |at: usize| u64::from_be_bytes(slot[at..at + 8].try_into().expect("8 bytes"));
    Some(Mark {
        generation: word(8),
        next_user_id: word(16),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(generation: u64) -> Mark {
        Mark {
            generation,
            next_user_id: generation + 10,
        }
    }

    #[test]
    fn newest_slot_wins_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (seal, found) = Seal::open(dir.path()).unwrap();
        assert_eq!(found, Found::Missing);
        for g in 1..=5 {
            seal.write(mark(g)).unwrap();
        }
        drop(seal);
        let (_, found) = Seal::open(dir.path()).unwrap();
        assert_eq!(found, Found::Mark(mark(5)));
    }

    /// A torn write of the newest slot leaves the one before it.
    #[test]
    fn a_damaged_slot_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let (seal, _) = Seal::open(dir.path()).unwrap();
        seal.write(mark(6)).unwrap();
        seal.write(mark(7)).unwrap();
        seal.file.write_all_at(&[0xff; 5], SLOT as u64 + 10).unwrap();
        drop(seal);
        let (_, found) = Seal::open(dir.path()).unwrap();
        assert_eq!(found, Found::Mark(mark(6)));
    }

    #[test]
    fn an_unreadable_file_is_damaged_not_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), [0u8; 17]).unwrap();
        let (_, found) = Seal::open(dir.path()).unwrap();
        assert_eq!(found, Found::Damaged);
    }
}
