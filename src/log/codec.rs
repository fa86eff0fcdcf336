//! Kafka's record-batch codecs (gzip, snappy, lz4, zstd): compressing the records of a
//! batch, and reading them back in bounded memory.
//!
//! A compressed batch says nothing trustworthy about its expanded size: a snappy block
//! declares its length up front, and a few hundred bytes of any codec can expand to
//! gigabytes. So records are read through a stream ([`reader`]) that never allocates more
//! than the bytes it has really produced, and every reader stops at a cap
//! ([`Capped`]): what a batch merely claims is never allocated.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

/// Kafka's record-batch codecs, all built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Kafka's codec ids: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn from_id(id: i32) -> Result<Self> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(Error::UnsupportedCompression(format!("unknown compression codec {id}"))),
        }
    }

    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// Snappy as Kafka's clients frame it (xerial's SnappyOutputStream): a magic header,
/// then blocks of at most 32 KiB, each a big-endian length and a raw snappy block.
const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const XERIAL_BLOCK: usize = 32 * 1024;

/// The most a raw snappy block can expand: its densest element, a copy with a 2-byte
/// offset, spends 3 bytes on up to 64 output bytes. A block claiming more is malformed,
/// and is refused before anything is allocated for it.
fn snappy_block_limit(compressed: usize) -> usize {
    compressed.saturating_mul(22).saturating_add(64)
}

/// Compresses the records section of a batch.
pub fn compress(codec: Compression, records: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::io(format!("{what} compression"), io::Error::other(e.to_string()));
    match codec {
        Compression::None => out.extend_from_slice(records),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            enc.write_all(records).map_err(|e| Error::io("gzip compression", e))?;
            enc.finish().map_err(|e| Error::io("gzip compression", e))?;
        }
        Compression::Snappy => {
            out.extend_from_slice(XERIAL_MAGIC);
            let mut encoder = snap::raw::Encoder::new();
            for block in records.chunks(XERIAL_BLOCK) {
                let at = out.len();
                out.resize(at + 4 + snap::raw::max_compress_len(block.len()), 0);
                let n = encoder.compress(block, &mut out[at + 4..]).map_err(|e| fail("snappy", &e))?;
                out[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
                out.truncate(at + 4 + n);
            }
        }
        Compression::Lz4 => {
            // Independent blocks, as Kafka's LZ4 streams require.
            let info = lz4_flex::frame::FrameInfo::new().block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            enc.write_all(records).map_err(|e| Error::io("lz4 compression", e))?;
            enc.finish().map_err(|e| fail("lz4", &e))?;
        }
        Compression::Zstd => {
            let compressed = zstd::bulk::compress(records, 3).map_err(|e| Error::io("zstd compression", e))?;
            out.extend_from_slice(&compressed);
        }
    }
    Ok(())
}

/// The records of a batch compressed with `codec` (Kafka's id), as a stream that produces
/// them as it expands them, at most `cap` bytes (read it through [`Capped`]).
pub fn reader<'a>(codec: i16, data: &'a [u8], cap: usize) -> Result<Box<dyn Read + 'a>> {
    Ok(match codec {
        0 => Box::new(data),
        // Every member of the stream, as Java's GZIPInputStream and zlib read it.
        1 => Box::new(flate2::read::MultiGzDecoder::new(data)),
        2 => Box::new(SnappyReader::new(data, cap)),
        3 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        // zstd's own bound on a frame's window (128 MiB) stands: the levels Kafka's
        // clients offer need up to that, and the window's pages are touched only as
        // output is produced, which the cap stops.
        4 => Box::new(zstd::stream::read::Decoder::with_buffer(data).map_err(|e| malformed("zstd", &e))?),
        c => {
            return Err(Error::UnsupportedCompression(format!(
                "a record batch uses compression codec {c}, which samsa cannot read"
            )))
        }
    })
}

/// Decompresses the records of a batch into `out` (cleared first), refusing a batch that
/// expands to more than `cap` bytes.
pub fn decompress(codec: i16, data: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<()> {
    out.clear();
    let mut capped = Capped::new(reader(codec, data, cap)?, cap);
    capped.read_to_end(out).map_err(|e| capped.error(codec, e))?;
    Ok(())
}

/// The reason a codec's stream failed, for the client: malformed, or over the cap.
fn malformed(codec: &str, e: &dyn std::fmt::Display) -> Error {
    Error::InvalidRecord(format!("malformed record batch: {codec}: {e}"))
}

fn codec_name(codec: i16) -> &'static str {
    match codec {
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "records",
    }
}

/// A stream that fails once it has produced more than `cap` bytes.
pub struct Capped<R> {
    inner: R,
    cap: usize,
    produced: usize,
    over: bool,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, cap: usize) -> Self {
        Capped { inner, cap, produced: 0, over: false }
    }

    /// The crate's error for a failure of this stream: over the cap, or malformed.
    pub fn error(&self, codec: i16, e: io::Error) -> Error {
        if self.over || e.get_ref().is_some_and(|inner| inner.is::<OverCap>()) {
            Error::RecordsTooLarge { max: self.cap }
        } else {
            malformed(codec_name(codec), &e)
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the cap tells a stream that ends exactly there from a longer one.
        let room = (self.cap - self.produced).saturating_add(1).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.produced += n;
        if self.produced > self.cap {
            self.over = true;
            return Err(io::Error::other("over the cap"));
        }
        Ok(n)
    }
}

/// A codec's stream refusing to expand past the cap before it allocates for it.
#[derive(Debug)]
struct OverCap;

impl std::fmt::Display for OverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the cap")
    }
}

impl std::error::Error for OverCap {}

/// Snappy records, xerial-framed (as Kafka's clients write them) or one plain block (as
/// xerial's reader also accepts), expanded one block at a time.
struct SnappyReader<'a> {
    data: &'a [u8],
    /// Where the next block starts (its length, when framed); past the end once read.
    pos: usize,
    framed: bool,
    block: Vec<u8>,
    at: usize,
    decoder: snap::raw::Decoder,
    /// What may still be expanded: a block claiming more is refused before its buffer is
    /// allocated.
    left: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8], cap: usize) -> Self {
        let framed = data.starts_with(&XERIAL_MAGIC[..8]) && data.len() >= XERIAL_MAGIC.len();
        let pos = if framed { XERIAL_MAGIC.len() } else { 0 };
        SnappyReader { data, pos, framed, block: Vec::new(), at: 0, decoder: snap::raw::Decoder::new(), left: cap }
    }

    /// The next compressed block, if any.
    fn next_block(&mut self) -> io::Result<Option<&'a [u8]>> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        if !self.framed {
            self.pos = self.data.len();
            return Ok(Some(self.data));
        }
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let len = self
            .data
            .get(self.pos..self.pos + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated block length"))?;
        let block = self.data.get(self.pos + 4..self.pos + 4 + len).ok_or_else(|| bad("truncated block"))?;
        self.pos += 4 + len;
        Ok(Some(block))
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            let Some(compressed) = self.next_block()? else { return Ok(0) };
            let n = snap::raw::decompress_len(compressed).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if n > snappy_block_limit(compressed.len()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a block of {} bytes claims to expand to {n}", compressed.len()),
                ));
            }
            if n > self.left {
                return Err(io::Error::other(OverCap));
            }
            self.left -= n;
            self.block.resize(n, 0);
            self.decoder.decompress(compressed, &mut self.block).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.at = 0;
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(codec: Compression, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        compress(codec, plain, &mut out).unwrap();
        out
    }

    #[test]
    fn every_codec_round_trips_within_the_cap_and_stops_past_it() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let data = compressed(codec, &plain);
            let mut out = Vec::new();
            decompress(codec.id(), &data, &mut out, plain.len()).unwrap();
            assert_eq!(out, plain, "{codec:?}");
            let e = decompress(codec.id(), &data, &mut out, plain.len() - 1).unwrap_err();
            assert_eq!(e.kind(), "MESSAGE_TOO_LARGE", "{codec:?}: {e}");
        }
    }

    #[test]
    fn a_snappy_block_claiming_gigabytes_is_refused_before_allocating() {
        // A raw snappy block is a varint length, then elements: claim 4 GB in 5 bytes.
        let mut block = vec![0x80, 0x80, 0x80, 0x80, 0x0f];
        block.extend_from_slice(&[0; 16]);
        for data in [block.clone(), [&XERIAL_MAGIC[..], &(block.len() as u32).to_be_bytes(), &block].concat()] {
            let mut out = Vec::new();
            let e = decompress(2, &data, &mut out, 1 << 20).unwrap_err();
            assert_eq!(e.kind(), "INVALID_RECORD", "{e}");
            assert!(out.capacity() < 1 << 20);
        }
        // A block within 22 times its size that claims more than the cap leaves: refused
        // before its buffer is allocated.
        let plain = vec![9u8; 64 << 10];
        let mut data = Vec::new();
        compress(Compression::Snappy, &plain, &mut data).unwrap();
        let mut out = Vec::new();
        let e = decompress(2, &data, &mut out, 1000).unwrap_err();
        assert_eq!(e.kind(), "MESSAGE_TOO_LARGE", "{e}");
        assert!(out.capacity() <= 1001);
    }

    #[test]
    fn unknown_codecs_are_refused() {
        assert_eq!(reader(5, b"", 1).err().map(|e| e.code()), Some(76));
        assert_eq!(Compression::from_id(7).unwrap_err().code(), 76);
    }
}
