//! A fetched run of records as JS gets it: one Buffer holding every key, value and header,
//! and tables of where each record's parts are, so JS slices them without further native
//! calls.
//!
//! A consumer reading at low latency fetches a few records at a time, thousands of times a
//! second: an external Buffer or ArrayBuffer (JS memory that Rust frees in a finalizer)
//! costs more to make than copying a small run, so small runs and the tables are copied
//! into memory JS owns, and only large runs are handed over without a copy.

use std::ptr;

use bytes::Bytes;
use napi::bindgen_prelude::{Buffer, ToNapiValue};
use napi::{check_status, sys};
use napi_derive::napi;

use super::error::IntoJs;
use crate::log::batch;

/// Runs up to this size are copied into a Buffer JS allocates.
const COPY_UP_TO: usize = 64 << 10;

/// A fetched run of records: one Buffer holding every key, value and header, and tables of
/// where each record's parts are (converted by hand, see src/binding/fetched.rs).
#[napi(object, object_to_js = false, object_from_js = false)]
pub struct FetchResult {
    #[napi(ts_type = "Buffer")]
    pub data: FetchedBytes,
    /// Per record, `RECORD_FIELDS` numbers: offset, timestamp, key start, key length (-1
    /// for null), value start, value length (-1 for null), first header, header count.
    #[napi(ts_type = "Float64Array")]
    pub records: Vec<f64>,
    /// Per header, 4 numbers: key start, key length, value start, value length (-1 null).
    #[napi(ts_type = "Float64Array")]
    pub headers: Vec<f64>,
    pub high_watermark: f64,
    pub log_start_offset: f64,
    /// The offset after the last batch read: where the next fetch starts. Past the last
    /// record when a compacted log has a gap there (or the batches were emptied).
    pub next_offset: f64,
}

/// The bytes read (the log's own buffer, or a slice of the owner's response) and, after
/// them, the keys and values of compressed batches, decompressed.
pub struct FetchedBytes {
    read: Read,
    extra: Vec<u8>,
}

pub enum Read {
    Owned(Vec<u8>),
    Shared(Bytes),
}

impl Read {
    fn as_slice(&self) -> &[u8] {
        match self {
            Read::Owned(v) => v,
            Read::Shared(b) => b,
        }
    }
}

/// What a fetch leaves out of what it read: transaction markers always (they hold no
/// record), and, read committed, the records of aborted transactions.
pub enum Filter<'a> {
    ReadUncommitted,
    /// The aborted transactions among the batches, as (producer id, first offset) by
    /// first offset (Kafka's Fetch answer).
    ReadCommitted(&'a [(i64, i64)]),
}

/// Decodes fetched batches (records before `offset` skipped) into tables over the bytes.
/// None for no bytes.
pub fn decode_fetch(read: Read, offset: i64, high_watermark: i64, log_start_offset: i64, filter: Filter<'_>) -> napi::Result<Option<FetchResult>> {
    let bytes = read.as_slice();
    if bytes.is_empty() {
        return Ok(None);
    }
    // Keys and values of uncompressed batches are located in the bytes read, where they
    // lie; decompressed ones are appended after them.
    let base = bytes.as_ptr() as usize;
    let mut extra: Vec<u8> = Vec::new();
    let mut records = Vec::new();
    let mut headers = Vec::new();
    let mut scratch = Vec::new();
    let mut pos = 0;
    let mut next_offset = offset;
    // Kafka's consumer's rule: a producer is aborting from the first offset of its aborted
    // transaction until its abort marker; its transactional batches meanwhile are skipped.
    let aborted = match filter {
        Filter::ReadCommitted(list) => list,
        Filter::ReadUncommitted => &[],
    };
    let mut next_aborted = 0;
    let mut aborting: Vec<i64> = Vec::new();
    while let Some(h) = batch::BatchHeader::parse(&bytes[pos..]) {
        let end = pos + h.total_size();
        next_offset = next_offset.max(h.last_offset() + 1);
        while aborted.get(next_aborted).is_some_and(|(_, first)| *first <= h.last_offset()) {
            aborting.push(aborted[next_aborted].0);
            next_aborted += 1;
        }
        let skip = if h.is_control() {
            aborting.retain(|pid| *pid != h.producer_id);
            true
        } else {
            h.is_transactional() && aborting.contains(&h.producer_id)
        };
        if skip {
            pos = end;
            if pos >= bytes.len() {
                break;
            }
            continue;
        }
        batch::for_each_record(&bytes[pos..end], &mut scratch, |r| {
            if r.offset < offset {
                return;
            }
            let mut locate = |b: Option<&[u8]>| match b {
                None => (0.0, -1.0),
                Some(b) => {
                    let at = (b.as_ptr() as usize).wrapping_sub(base);
                    if at.checked_add(b.len()).is_some_and(|e| e <= bytes.len()) {
                        (at as f64, b.len() as f64)
                    } else {
                        let start = bytes.len() + extra.len();
                        extra.extend_from_slice(b);
                        (start as f64, b.len() as f64)
                    }
                }
            };
            let (ks, kl) = locate(r.key);
            let (vs, vl) = locate(r.value);
            let first_header = (headers.len() / 4) as f64;
            let count = r.headers.len() as f64;
            for hd in r.headers {
                let (hks, hkl) = locate(Some(hd.key));
                let (hvs, hvl) = locate(hd.value);
                headers.extend_from_slice(&[hks, hkl, hvs, hvl]);
            }
            records.extend_from_slice(&[r.offset as f64, r.timestamp as f64, ks, kl, vs, vl, first_header, count]);
        })
        .js()?;
        pos = end;
        if pos >= bytes.len() {
            break;
        }
    }
    Ok(Some(FetchResult {
        data: FetchedBytes { read, extra },
        records,
        headers,
        high_watermark: high_watermark as f64,
        log_start_offset: log_start_offset as f64,
        next_offset: next_offset as f64,
    }))
}

impl ToNapiValue for FetchedBytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let read = val.read.as_slice();
        let len = read.len() + val.extra.len();
        if len > COPY_UP_TO {
            let mut all = match val.read {
                Read::Owned(v) => v,
                Read::Shared(b) => Vec::from(b),
            };
            all.extend_from_slice(&val.extra);
            return unsafe { Buffer::to_napi_value(env, all.into()) };
        }
        let mut data = ptr::null_mut();
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_buffer(env, len, &mut data, &mut out) }, "Failed to create a Buffer")?;
        if len > 0 {
            // SAFETY: `data` is the new Buffer's memory, `len` bytes, not shared with the sources.
            let dst = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
            dst[..read.len()].copy_from_slice(read);
            dst[read.len()..].copy_from_slice(&val.extra);
        }
        Ok(out)
    }
}

/// A Float64Array over a copy of `v`, in memory JS owns.
unsafe fn f64_array(env: sys::napi_env, v: &[f64]) -> napi::Result<sys::napi_value> {
    let bytes = std::mem::size_of_val(v);
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    check_status!(unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer) }, "Failed to create an ArrayBuffer")?;
    if bytes > 0 {
        // SAFETY: `data` is the new ArrayBuffer's memory, `bytes` long (copied as bytes:
        // no assumption about its alignment).
        unsafe { ptr::copy_nonoverlapping(v.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes) };
    }
    let mut out = ptr::null_mut();
    check_status!(
        unsafe { sys::napi_create_typedarray(env, sys::TypedarrayType::float64_array, v.len(), buffer, 0, &mut out) },
        "Failed to create a Float64Array"
    )?;
    Ok(out)
}

impl ToNapiValue for FetchResult {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let values = unsafe {
            [
                FetchedBytes::to_napi_value(env, val.data)?,
                f64_array(env, &val.records)?,
                f64_array(env, &val.headers)?,
                f64::to_napi_value(env, val.high_watermark)?,
                f64::to_napi_value(env, val.log_start_offset)?,
                f64::to_napi_value(env, val.next_offset)?,
            ]
        };
        let names: [&std::ffi::CStr; 6] = [c"data", c"records", c"headers", c"highWatermark", c"logStartOffset", c"nextOffset"];
        let properties: [sys::napi_property_descriptor; 6] = std::array::from_fn(|i| sys::napi_property_descriptor {
            utf8name: names[i].as_ptr(),
            name: ptr::null_mut(),
            method: None,
            getter: None,
            setter: None,
            value: values[i],
            attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::enumerable | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        });
        unsafe { napi::bindgen_prelude::create_object_with_properties(env, &properties) }
    }
}
