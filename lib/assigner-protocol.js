'use strict'

// Kafka's consumer protocol bytes (ConsumerProtocolSubscription and
// ConsumerProtocolAssignment, version 0 and up), as kafkajs's AssignerProtocol reads and
// writes them: describeGroups reports each member's metadata and assignment in this form.
//
//   MemberMetadata:   version int16, topics [int32 count, int16-length strings], userData bytes
//   MemberAssignment: version int16, [int32 count of: topic string, [int32 count, int32 partitions]], userData bytes
// where bytes are an int32 length (-1 for null) and the data.

class Writer {
  constructor() {
    this.parts = []
  }

  int16(v) {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    this.parts.push(b)
    return this
  }

  int32(v) {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    this.parts.push(b)
    return this
  }

  string(s) {
    const bytes = Buffer.from(s, 'utf8')
    return this.int16(bytes.length).raw(bytes)
  }

  bytes(b) {
    if (b === null || b === undefined) return this.int32(-1)
    const bytes = Buffer.isBuffer(b) ? b : Buffer.from(b)
    return this.int32(bytes.length).raw(bytes)
  }

  raw(b) {
    this.parts.push(b)
    return this
  }

  get buffer() {
    return Buffer.concat(this.parts)
  }
}

class Reader {
  constructor(buffer) {
    this.buffer = buffer
    this.at = 0
  }

  canRead(n) {
    return this.at + n <= this.buffer.length
  }

  need(n) {
    if (!this.canRead(n)) throw new RangeError(`consumer protocol bytes end after ${this.at} bytes, ${n} more were expected`)
  }

  int16() {
    this.need(2)
    const v = this.buffer.readInt16BE(this.at)
    this.at += 2
    return v
  }

  int32() {
    this.need(4)
    const v = this.buffer.readInt32BE(this.at)
    this.at += 4
    return v
  }

  string() {
    const n = this.int16()
    if (n < 0) return null
    this.need(n)
    const s = this.buffer.toString('utf8', this.at, this.at + n)
    this.at += n
    return s
  }

  bytes() {
    // Older members may leave userData out altogether.
    if (!this.canRead(4)) return null
    const n = this.int32()
    if (n < 0) return null
    this.need(n)
    const b = this.buffer.subarray(this.at, this.at + n)
    this.at += n
    return b
  }

  array(item) {
    const n = this.int32()
    const out = []
    for (let i = 0; i < n; i++) out.push(item(this))
    return out
  }
}

const MemberMetadata = {
  encode({ version, topics, userData = Buffer.alloc(0) }) {
    const w = new Writer().int16(version).int32(topics.length)
    for (const t of topics) w.string(t)
    return w.bytes(userData).buffer
  },

  decode(buffer) {
    const r = new Reader(buffer)
    return { version: r.int16(), topics: r.array((d) => d.string()), userData: r.bytes() }
  },
}

const MemberAssignment = {
  encode({ version, assignment, userData = Buffer.alloc(0) }) {
    const topics = Object.keys(assignment)
    const w = new Writer().int16(version).int32(topics.length)
    for (const t of topics) {
      w.string(t).int32(assignment[t].length)
      for (const p of assignment[t]) w.int32(p)
    }
    return w.bytes(userData).buffer
  },

  /** The assignment, or null for an empty buffer (a member without one yet). */
  decode(buffer) {
    const r = new Reader(buffer)
    if (!r.canRead(2)) return null
    const version = r.int16()
    const assignment = {}
    for (const { topic, partitions } of r.array((d) => ({ topic: d.string(), partitions: d.array((x) => x.int32()) }))) {
      assignment[topic] = partitions
    }
    return { version, assignment, userData: r.bytes() }
  },
}

module.exports = { AssignerProtocol: { MemberMetadata, MemberAssignment } }
