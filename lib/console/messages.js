'use strict'

// The message browser: reads a partition's records through the broker's fetch (the one
// the consumers use, in this process or through the owner), newest first or from an
// offset or a time, optionally only those with one key, and renders keys, values and
// headers for the page. Every read is bounded (records shown, bytes read per request)
// and the event loop turns between chunks, so a browse of a large topic never holds the
// application's JS thread for more than a chunk's decoding.

const { setImmediate: nextTurn } = require('node:timers/promises')
const { HttpError } = require('./params')

const MAX_LIMIT = 500
// Bytes of batches asked for per fetch: reading and decoding one holds the JS thread
// about 4 ms here (256 KiB: 10 ms), and the event loop turns between fetches.
const CHUNK_BYTES = 128 * 1024
// Bytes read at most per request: a key search gives up there and says how far it got.
const SCAN_BUDGET_BYTES = 16 * 1024 * 1024
// A value or key longer than this is shown cut (the page says how long it was).
const SHOWN_BYTES = 16 * 1024
// Through another process, records come from what its fetcher brought: how long a read
// waits for the first of them.
const REMOTE_WAIT_MS = 3000
// Each read of the console's (there is one at a time) is this reader to the fetcher of a
// process that does not own the directory: ids far above the consumers' own (1, 2, ...).
const CONSOLE_READER_ID = 0xfff00000

// json: pretty JSON when the value parses as JSON, else text; text: as it is; hex: a dump.
const FORMATS = ['json', 'text', 'hex']

/** Reads one partition's records for a browse: forward from an offset, or the newest
 * ones, within the request's byte budget (`budget.bytes`, shared by its partitions). */
class PartitionReader {
  constructor(shared, topic, partition, { low, high }, budget) {
    this.shared = shared
    this.topic = topic
    this.partition = partition
    this.low = low
    this.high = high
    this.budget = budget // { bytes } left for this request, shared by its partitions
  }

  /**
   * One fetch from `offset`: the records from it up to `to` that `match` keeps (it reads
   * the fetched tables, so the others are never made into objects), at most `room` of
   * them, and where the next read starts.
   */
  async chunk(offset, to, match, room) {
    const r = await this.fetch(offset)
    if (r === null) return { records: [], next: null }
    this.budget.bytes -= r.data.length + r.records.length * 8
    const count = r.records.length / 8
    const records = []
    for (let i = 0; i < count && records.length < room; i++) {
      const at = r.records[i * 8]
      // A fetch inside a batch returns the whole batch: what precedes `offset` is skipped.
      if (at >= offset && at < to && match(r, i)) records.push(recordAt(r, i))
    }
    const last = count > 0 ? r.records[(count - 1) * 8] + 1 : offset
    // nextOffset passes gaps a compacted log left (and batches its cleaner emptied).
    return { records, next: Math.max(last, r.nextOffset || 0, offset) }
  }

  async fetch(offset) {
    const { shared } = this
    const deadline = Date.now() + REMOTE_WAIT_MS
    let wait = 2
    for (;;) {
      let r
      try {
        r = shared.native.fetch(this.topic, this.partition, offset, CHUNK_BYTES, CONSOLE_READER_ID)
      } catch (e) {
        const err = shared.error(e)
        // Retention moved the log start meanwhile: read from where it is now.
        if (err.type === 'OFFSET_OUT_OF_RANGE' && offset < this.high) return null
        throw err
      }
      if (r !== null || !shared.remote || offset >= this.high || Date.now() > deadline) return r
      // Asked for now: the fetcher of this process brings it from the owner.
      await new Promise((resolve) => setTimeout(resolve, wait))
      wait = Math.min(wait * 2, 50)
    }
  }

  /** Records from `from` up to `to` (exclusive), at most `limit` of those `match` keeps. */
  async forward(from, to, match, limit) {
    const out = []
    let offset = Math.max(from, this.low)
    while (offset < to && out.length < limit && this.budget.bytes > 0) {
      const { records, next } = await this.chunk(offset, to, match, limit - out.length)
      if (next === null) break
      out.push(...records)
      if (next <= offset) break
      offset = next
      await nextTurn()
    }
    return { records: out, to: Math.min(offset, to) }
  }

  /** The newest `limit` records `match` keeps: windows read forward, each further back
   * than the last (the first `window` offsets long), until enough are found, the log's
   * start is reached or the budget ends. */
  async newest(match, limit, window) {
    let found = []
    let end = this.high
    while (end > this.low && found.length < limit && this.budget.bytes > 0) {
      const start = Math.max(this.low, end - window)
      const { records, to } = await this.forward(start, end, match, Infinity)
      // The budget ran out inside the window: what was found there is not the newest
      // before `end`, so only the windows read whole count.
      if (to < end) break
      found = records.concat(found)
      end = start
      window = Math.min(window * 4, 1 << 20)
    }
    return { records: found.slice(-limit), from: end, to: this.high, complete: found.length >= limit || end <= this.low }
  }
}

/** Whether record `i` of fetch result `r` has the key `keyBytes`, compared in place. */
function keyMatcher(keyBytes) {
  return (r, i) => {
    const f = i * 8
    const start = r.records[f + 2]
    return r.records[f + 3] === keyBytes.length && r.data.compare(keyBytes, 0, keyBytes.length, start, start + keyBytes.length) === 0
  }
}

function recordAt(r, i) {
  const f = i * 8
  const rec = r.records
  const slice = (start, len) => (len < 0 ? null : r.data.subarray(start, start + len))
  const headers = []
  for (let h = rec[f + 6], end = h + rec[f + 7]; h < end; h++) {
    const hf = h * 4
    headers.push([r.data.toString('utf8', r.headers[hf], r.headers[hf] + r.headers[hf + 1]), slice(r.headers[hf + 2], r.headers[hf + 3])])
  }
  return { offset: rec[f], timestamp: rec[f + 1], key: slice(rec[f + 2], rec[f + 3]), value: slice(rec[f + 4], rec[f + 5]), headers }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function textOf(buf) {
  try {
    return utf8.decode(buf)
  } catch {
    return null
  }
}

/** Bytes as the page shows them: { format, text, bytes, truncated }. */
function render(buf, format) {
  if (buf === null) return null
  const bytes = buf.length
  const shown = buf.subarray(0, SHOWN_BYTES)
  const truncated = bytes > shown.length
  const hex = () => ({ format: 'hex', text: hexDump(shown), bytes, truncated })
  if (format === 'hex') return hex()
  // A cut may split a UTF-8 sequence: decode the whole value when it is valid, then cut.
  const whole = textOf(buf)
  if (whole === null) return hex()
  if (format === 'json') {
    try {
      if (!truncated) return { format: 'json', text: JSON.stringify(JSON.parse(whole), null, 2), bytes, truncated }
    } catch {
      // Not JSON: shown as text.
    }
  }
  return { format: 'text', text: truncated ? whole.slice(0, SHOWN_BYTES) : whole, bytes, truncated }
}

function hexDump(buf) {
  const lines = []
  for (let i = 0; i < buf.length; i += 16) {
    const row = buf.subarray(i, i + 16)
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ')
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`)
  }
  return lines.join('\n')
}

function shape(partition, rec, format) {
  return {
    partition,
    offset: String(rec.offset),
    timestamp: rec.timestamp,
    key: render(rec.key, format === 'hex' ? 'hex' : 'text'),
    value: render(rec.value, format),
    headers: rec.headers.map(([name, v]) => ({ name, value: render(v, format === 'hex' ? 'hex' : 'text') })),
  }
}

/**
 * Browses `topic` (whose partitions' watermarks are `marks`, [{ partition, low, high }]):
 * one partition, or every one when `partition` is undefined (merged by time). `from`:
 * 'newest', { offset } or { timestamp } (with `offsetsAt`, the first offset at or after
 * it in each partition). Resolves to { messages, partitions: [{ partition, from, to,
 * complete }] } for the page.
 */
async function browse(shared, { topic, marks, partition, from, key, limit, format, offsetsAt }) {
  const keyBytes = key === undefined ? null : Buffer.from(key, 'utf8')
  const match = keyBytes === null ? () => true : keyMatcher(keyBytes)
  const budget = { bytes: SCAN_BUDGET_BYTES }
  const chosen = partition === undefined ? marks : marks.filter((m) => m.partition === partition)
  const results = []
  for (const m of chosen) {
    const reader = new PartitionReader(shared, topic, m.partition, m, budget)
    if (from === 'newest') {
      // Without a key the newest `limit` offsets are the answer (but for a compacted log's
      // gaps); a key search starts wider.
      const r = await reader.newest(match, limit, keyBytes === null ? limit : Math.max(limit, 1024))
      results.push({ partition: m.partition, records: r.records, from: r.from, to: r.to, complete: r.complete })
    } else {
      const start = from.offset !== undefined ? from.offset : offsetsAt.get(m.partition)
      const r = await reader.forward(start, m.high, match, limit)
      results.push({ partition: m.partition, records: r.records, from: Math.max(start, m.low), to: r.to, complete: r.records.length >= limit || r.to >= m.high })
    }
  }
  let all = results.flatMap((r) => r.records.map((rec) => [r.partition, rec]))
  if (from === 'newest') {
    // Newest first, by time, then by offset within a partition.
    all.sort((a, b) => b[1].timestamp - a[1].timestamp || b[1].offset - a[1].offset)
  } else {
    all.sort((a, b) => a[1].timestamp - b[1].timestamp || a[1].offset - b[1].offset)
  }
  all = all.slice(0, limit)
  return {
    messages: all.map(([p, rec]) => shape(p, rec, format)),
    partitions: results.map(({ partition: p, from: f, to, complete }) => ({ partition: p, from: String(f), to: String(to), complete })),
  }
}

/** Runs browses one at a time: a process reaching the directory through its owner has
 * one read-ahead per reader and partition, which two interleaved browses would spoil. */
function serialized() {
  let tail = Promise.resolve()
  return (fn) => {
    const run = tail.then(fn, fn)
    tail = run.catch(() => {})
    return run
  }
}

function checkPartition(marks, partition) {
  if (partition !== undefined && !marks.some((m) => m.partition === partition)) {
    throw new HttpError(400, `partition must be one of 0 to ${marks.length - 1}, got ${partition}`)
  }
}

module.exports = { browse, serialized, checkPartition, MAX_LIMIT, FORMATS }
