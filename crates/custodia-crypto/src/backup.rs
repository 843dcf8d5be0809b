//! The encrypted backup format: a random key per backup, wrapped under a
//! key from the master secret and, optionally, for an offline recipient's
//! X25519 public key; the content in AES-256-GCM chunks whose associated
//! data binds the header, the chunk's position and whether it is the last,
//! so a file that was altered, truncated, reordered or spliced fails.
//!
//! ```text
//! "CUSTODIA-BACKUP1" ‖ u32 header length ‖ header (JSON)
//! then per chunk: u32 ciphertext length ‖ AES-256-GCM(chunk)
//!   nonce = 0x00000000 ‖ u64 index      (a fresh key per backup)
//!   AAD   = SHA-256(magic ‖ header) ‖ u64 index ‖ u8 last
//! ```

use crate::secret::Key32;
use crate::{envelope, CryptoError};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// File magic.
pub const MAGIC: &[u8; 16] = b"CUSTODIA-BACKUP1";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 4 << 20;
/// Largest header accepted.
const MAX_HEADER: u32 = 1 << 20;

/// Why a backup could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// Not a Custodia backup.
    #[error("not a Custodia backup (wrong magic)")]
    Magic,
    /// Structure broken.
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    /// A chunk failed authentication.
    #[error("chunk {0} failed authentication: the backup was altered, or this key is not its key")]
    Chunk(u64),
    /// Ended before its last chunk.
    #[error("the backup is truncated (it ends before its last chunk)")]
    Truncated,
    /// Data after the last chunk.
    #[error("the backup has data after its last chunk")]
    Trailing,
    /// I/O.
    #[error("{0}")]
    Io(String),
    /// A key could not be unwrapped.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn io(e: std::io::Error) -> BackupError {
    BackupError::Io(e.to_string())
}

/// A backup's content key (zeroized on drop).
pub struct BackupKey(Key32);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

/// The backup key wrapped for an offline recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientWrap {
    /// The recipient's public key.
    pub recipient: [u8; 32],
    /// Our ephemeral public key.
    pub ephemeral: [u8; 32],
    /// The wrapped backup key.
    pub wrapped: Vec<u8>,
}

fn recipient_kek(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Key32 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = [0u8; 32];
    hk.expand(b"custodia backup recipient v1", &mut okm)
        .expect("32 bytes is a valid HKDF length");
    let k = Key32::from_bytes(okm);
    zeroize::Zeroize::zeroize(&mut okm);
    k
}

/// A new X25519 key pair for an offline recipient: (secret, public).
pub fn recipient_keypair() -> (zeroize::Zeroizing<[u8; 32]>, [u8; 32]) {
    let secret = x25519_dalek::StaticSecret::random_from_rng(rand::rngs::OsRng);
    let public = x25519_dalek::PublicKey::from(&secret);
    (zeroize::Zeroizing::new(secret.to_bytes()), public.to_bytes())
}

impl BackupKey {
    /// A fresh random key.
    pub fn generate() -> BackupKey {
        BackupKey(Key32::random())
    }

    /// Wrap under `wrap_key` (derived from the master secret), bound to the backup id.
    pub fn wrap(&self, wrap_key: &Key32, backup_id: &str) -> Vec<u8> {
        envelope::seal_secret(wrap_key, backup_id.as_bytes(), self.0.expose())
    }

    /// Unwrap what [`BackupKey::wrap`] wrapped.
    pub fn unwrap(wrap_key: &Key32, backup_id: &str, wrapped: &[u8]) -> Result<BackupKey, CryptoError> {
        let k = envelope::open_secret(wrap_key, backup_id.as_bytes(), wrapped)?;
        let arr: [u8; 32] = k.as_slice().try_into().map_err(|_| CryptoError::Decrypt)?;
        Ok(BackupKey(Key32::from_bytes(arr)))
    }

    /// Wrap for a recipient's X25519 public key (ECDH with an ephemeral key, HKDF-SHA256, AES-256-GCM).
    pub fn wrap_for(&self, recipient: &[u8; 32], backup_id: &str) -> RecipientWrap {
        let eph = x25519_dalek::EphemeralSecret::random_from_rng(rand::rngs::OsRng);
        let eph_pub = x25519_dalek::PublicKey::from(&eph).to_bytes();
        let shared = eph.diffie_hellman(&x25519_dalek::PublicKey::from(*recipient));
        let kek = recipient_kek(shared.as_bytes(), &eph_pub, recipient);
        RecipientWrap {
            recipient: *recipient,
            ephemeral: eph_pub,
            wrapped: envelope::seal_secret(&kek, backup_id.as_bytes(), self.0.expose()),
        }
    }

    /// Unwrap with the recipient's X25519 secret key.
    pub fn unwrap_with(secret: &[u8; 32], w: &RecipientWrap, backup_id: &str) -> Result<BackupKey, CryptoError> {
        let sk = x25519_dalek::StaticSecret::from(*secret);
        if x25519_dalek::PublicKey::from(&sk).to_bytes() != w.recipient {
            return Err(CryptoError::WrongSecret);
        }
        let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(w.ephemeral));
        let kek = recipient_kek(shared.as_bytes(), &w.ephemeral, &w.recipient);
        let k = envelope::open_secret(&kek, backup_id.as_bytes(), &w.wrapped)?;
        let arr: [u8; 32] = k.as_slice().try_into().map_err(|_| CryptoError::Decrypt)?;
        Ok(BackupKey(Key32::from_bytes(arr)))
    }

    fn aead(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose().into())
    }
}

fn nonce(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

fn aad(header_hash: &[u8; 32], index: u64, last: bool) -> [u8; 41] {
    let mut a = [0u8; 41];
    a[..32].copy_from_slice(header_hash);
    a[32..40].copy_from_slice(&index.to_be_bytes());
    a[40] = last as u8;
    a
}

fn header_hash(header: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(header);
    h.finalize().into()
}

/// Writes a backup: header, then content in authenticated chunks.
pub struct BackupWriter<W: Write> {
    w: W,
    aead: Aes256Gcm,
    hash: [u8; 32],
    index: u64,
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> BackupWriter<W> {
    /// Start a backup with `header` (JSON) under `key`.
    pub fn new(mut w: W, header: &[u8], key: &BackupKey) -> Result<BackupWriter<W>, BackupError> {
        if header.len() as u64 > MAX_HEADER as u64 {
            return Err(BackupError::Damaged("header too large".into()));
        }
        w.write_all(MAGIC).map_err(io)?;
        w.write_all(&(header.len() as u32).to_be_bytes()).map_err(io)?;
        w.write_all(header).map_err(io)?;
        Ok(BackupWriter {
            w,
            aead: key.aead(),
            hash: header_hash(header),
            index: 0,
            buf: Vec::with_capacity(CHUNK),
            written: 0,
        })
    }

    fn emit(&mut self, last: bool) -> Result<(), BackupError> {
        let ct = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce(self.index)),
                Payload {
                    msg: &self.buf,
                    aad: &aad(&self.hash, self.index, last),
                },
            )
            .map_err(|_| BackupError::Damaged("encryption failed".into()))?;
        self.w.write_all(&(ct.len() as u32).to_be_bytes()).map_err(io)?;
        self.w.write_all(&ct).map_err(io)?;
        self.index += 1;
        self.buf.clear();
        Ok(())
    }

    /// Add content.
    pub fn write_all(&mut self, mut data: &[u8]) -> Result<(), BackupError> {
        self.written += data.len() as u64;
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.emit(false)?;
            }
        }
        Ok(())
    }

    /// Write the last chunk and return the inner writer and the plaintext size.
    pub fn finish(mut self) -> Result<(W, u64), BackupError> {
        self.emit(true)?;
        self.w.flush().map_err(io)?;
        Ok((self.w, self.written))
    }
}

/// Reads a backup's header.
pub fn read_header(r: &mut impl Read) -> Result<Vec<u8>, BackupError> {
    let mut magic = [0u8; 16];
    r.read_exact(&mut magic).map_err(|_| BackupError::Magic)?;
    if &magic != MAGIC {
        return Err(BackupError::Magic);
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(|_| BackupError::Truncated)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_HEADER {
        return Err(BackupError::Damaged("header too large".into()));
    }
    let mut h = vec![0u8; len as usize];
    r.read_exact(&mut h).map_err(|_| BackupError::Truncated)?;
    Ok(h)
}

/// Reads a backup's content, chunk by chunk, after its header.
pub struct BackupReader<R: Read> {
    r: R,
    aead: Aes256Gcm,
    hash: [u8; 32],
    index: u64,
    done: bool,
}

impl<R: Read> BackupReader<R> {
    /// Read the content after `header` (as returned by [`read_header`]) with `key`.
    pub fn new(r: R, header: &[u8], key: &BackupKey) -> BackupReader<R> {
        BackupReader {
            r,
            aead: key.aead(),
            hash: header_hash(header),
            index: 0,
            done: false,
        }
    }

    /// The next chunk of content, or `None` after the last one (checking
    /// that nothing follows it).
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        if let Err(e) = self.r.read_exact(&mut len) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BackupError::Truncated
            } else {
                io(e)
            });
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(16..=CHUNK + 16).contains(&len) {
            return Err(BackupError::Damaged(format!(
                "chunk {} has an impossible length",
                self.index
            )));
        }
        let mut ct = vec![0u8; len];
        self.r.read_exact(&mut ct).map_err(|_| BackupError::Truncated)?;
        for last in [false, true] {
            if let Ok(pt) = self.aead.decrypt(
                Nonce::from_slice(&nonce(self.index)),
                Payload {
                    msg: &ct,
                    aad: &aad(&self.hash, self.index, last),
                },
            ) {
                self.index += 1;
                if last {
                    self.done = true;
                    let mut extra = [0u8; 1];
                    if self.r.read(&mut extra).map_err(io)? != 0 {
                        return Err(BackupError::Trailing);
                    }
                }
                return Ok(Some(pt));
            }
        }
        Err(BackupError::Chunk(self.index))
    }

    /// Chunks read so far.
    pub fn chunks(&self) -> u64 {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(content: &[u8], key: &BackupKey) -> Vec<u8> {
        let mut w = BackupWriter::new(Vec::new(), br#"{"id":"bk_1"}"#, key).unwrap();
        w.write_all(content).unwrap();
        w.finish().unwrap().0
    }

    fn read_all(file: &[u8], key: &BackupKey) -> Result<Vec<u8>, BackupError> {
        let mut r = file;
        let h = read_header(&mut r)?;
        let mut rd = BackupReader::new(r, &h, key);
        let mut out = Vec::new();
        while let Some(c) = rd.next_chunk()? {
            out.extend(c);
        }
        Ok(out)
    }

    #[test]
    fn round_trip_sizes() {
        let k = BackupKey::generate();
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 7] {
            let content: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let f = make(&content, &k);
            assert_eq!(read_all(&f, &k).unwrap(), content, "{n}");
        }
    }

    #[test]
    fn tampering_truncation_and_wrong_keys_fail() {
        let k = BackupKey::generate();
        let content: Vec<u8> = (0..CHUNK + 100).map(|i| (i % 7) as u8).collect();
        let f = make(&content, &k);
        // A flipped bit in the content.
        let mut bad = f.clone();
        let at = bad.len() - 50;
        bad[at] ^= 1;
        assert_eq!(read_all(&bad, &k).unwrap_err(), BackupError::Chunk(1));
        // The header changed: every chunk fails.
        let mut bad = f.clone();
        bad[22] ^= 1;
        assert_eq!(read_all(&bad, &k).unwrap_err(), BackupError::Chunk(0));
        // Cut after the first chunk: the reader notices it never saw the last one.
        let first_end = 16 + 4 + 13 + 4 + CHUNK + 16;
        assert_eq!(read_all(&f[..first_end], &k).unwrap_err(), BackupError::Truncated);
        // Trailing bytes.
        let mut bad = f.clone();
        bad.push(0);
        assert_eq!(read_all(&bad, &k).unwrap_err(), BackupError::Trailing);
        // Another key.
        assert_eq!(read_all(&f, &BackupKey::generate()).unwrap_err(), BackupError::Chunk(0));
        assert_eq!(read_all(b"not a backup at all", &k).unwrap_err(), BackupError::Magic);
    }

    #[test]
    fn key_wrapping_master_and_recipient() {
        let k = BackupKey::generate();
        let wrap = Key32::random();
        let w = k.wrap(&wrap, "bk_1");
        let back = BackupKey::unwrap(&wrap, "bk_1", &w).unwrap();
        assert_eq!(back.0.expose(), k.0.expose());
        assert!(BackupKey::unwrap(&wrap, "bk_2", &w).is_err(), "bound to the backup id");
        assert!(BackupKey::unwrap(&Key32::random(), "bk_1", &w).is_err());
        let (sk, pk) = recipient_keypair();
        let rw = k.wrap_for(&pk, "bk_1");
        let back = BackupKey::unwrap_with(&sk, &rw, "bk_1").unwrap();
        assert_eq!(back.0.expose(), k.0.expose());
        let (other, _) = recipient_keypair();
        assert_eq!(
            BackupKey::unwrap_with(&other, &rw, "bk_1").unwrap_err(),
            CryptoError::WrongSecret
        );
        assert!(BackupKey::unwrap_with(&sk, &rw, "bk_9").is_err());
        assert!(format!("{k:?}").contains("redacted"));
    }
}
