'use strict'

// kafkajs's Batch: the messages of one partition fetch, sliced out of the one Buffer the
// native fetch returns (keys, values and headers are views into it, not copies).

class Batch {
  constructor(state, r, count) {
    this.state = state
    this.topic = state.topic
    this.partition = state.partition
    this.fetchedOffset = String(state.position)
    this.highWatermark = String(r.highWatermark)
    const data = r.data
    const rec = r.records
    const hdr = r.headers
    const messages = new Array(count)
    // Records of one producer send share a timestamp: convert it once.
    let lastTs = NaN
    let lastTsText = ''
    for (let i = 0; i < count; i++) {
      const f = i * 8
      if (rec[f + 1] !== lastTs) {
        lastTs = rec[f + 1]
        lastTsText = String(lastTs)
      }
      const kl = rec[f + 3]
      const vl = rec[f + 5]
      const hc = rec[f + 7]
      let headers = {}
      if (hc > 0) {
        headers = {}
        for (let h = rec[f + 6], end = h + hc; h < end; h++) {
          const hf = h * 4
          const name = data.toString('utf8', hdr[hf], hdr[hf] + hdr[hf + 1])
          const value = hdr[hf + 3] < 0 ? null : data.subarray(hdr[hf + 2], hdr[hf + 2] + hdr[hf + 3])
          const prev = headers[name]
          headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
        }
      }
      messages[i] = {
        magicByte: 2,
        attributes: 0,
        timestamp: lastTsText,
        offset: String(rec[f]),
        key: kl < 0 ? null : data.subarray(rec[f + 2], rec[f + 2] + kl),
        value: vl < 0 ? null : data.subarray(rec[f + 4], rec[f + 4] + vl),
        headers,
        isControlRecord: false,
        batchContext: null,
      }
    }
    this.messages = messages
    // After the last batch read, which may end past its last record (a compacted log).
    this.nextOffset = Math.max(rec[(count - 1) * 8] + 1, r.nextOffset)
  }

  isEmpty() {
    return this.messages.length === 0
  }

  // Transaction markers and aborted records are left out natively (src/binding/fetched.rs),
  // and a fetch that held only those, or batches a compacted log's cleaner emptied, never
  // becomes a Batch: the messages fetched are the messages delivered.
  isEmptyIncludingFiltered() {
    return this.messages.length === 0
  }

  isEmptyDueToFiltering() {
    return false
  }

  isEmptyControlRecord() {
    return false
  }

  isEmptyDueToLogCompactedMessages() {
    return false
  }

  firstOffset() {
    return this.isEmpty() ? null : this.messages[0].offset
  }

  lastOffset() {
    return this.isEmpty() ? String(Number(this.highWatermark) - 1) : this.messages[this.messages.length - 1].offset
  }

  offsetLag() {
    return String(Math.max(0, Number(this.highWatermark) - 1 - Number(this.lastOffset())))
  }

  offsetLagLow() {
    if (this.isEmpty()) return '0'
    return String(Math.max(0, Number(this.highWatermark) - 1 - Number(this.firstOffset())))
  }
}

module.exports = { Batch }
