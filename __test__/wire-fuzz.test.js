'use strict'

// Protocol fuzzing of samsa's Kafka listener: random, truncated and oversized frames,
// valid request headers with garbage bodies, and valid requests (captured from kafkajs)
// with random mutations, from several connections at once. Throughout, a kafkajs producer
// and consumer on their own connections keep producing and consuming; afterwards every
// acknowledged message has been consumed, the high watermarks agree with what was
// acknowledged, `verify()` finds no damage, every partition reads back whole through the
// in-process fetch path, and a fresh connection still gets Metadata.
//
// The broker runs in a child process (__test__/fixtures/wire-fuzz-broker.js) rather than
// in the jest worker: a native abort there is observed (exit signal, stderr) and the frame
// that caused it is found by replaying the frames in flight against fresh brokers, where
// in the jest worker it would take the runner down with no diagnosis.
//
// Replay: WIRE_FUZZ_SEED=<seed printed below>. Tuning: WIRE_FUZZ_SECONDS (default 40),
// WIRE_FUZZ_WORKERS (8), WIRE_FUZZ_STRATEGIES (comma-separated subset of STRATEGIES),
// WIRE_FUZZ_MAX_CRASHES (20: after a crash the broker is restarted on the same port and the
// fuzzing goes on, up to this many).

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { fork } = require('node:child_process')
const kafkajs = require('kafkajs')
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C')
const { tempDir, waitFor, ROOT } = require('./helpers')
const { requestFrame, WireSocket, decodeApiVersionsV0 } = require('./fixtures/kafka-wire')

const SEED = process.env.WIRE_FUZZ_SEED ? Number(process.env.WIRE_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0
const FUZZ_MS = Number(process.env.WIRE_FUZZ_SECONDS || 40) * 1000
const WORKERS = Number(process.env.WIRE_FUZZ_WORKERS || 8)
const MAX_CRASHES = Number(process.env.WIRE_FUZZ_MAX_CRASHES || 20)
const FIXTURE = path.join(__dirname, 'fixtures', 'wire-fuzz-broker.js')
const MAX_FRAME = 100 * 1024 * 1024 // the listener's default limit (src/wire/mod.rs)

jest.setTimeout(FUZZ_MS + 180000)

const LIVE_TOPIC = 'wire-fuzz-live-traffic-topic'
const LIVE_GROUP = 'wire-fuzz-live-traffic-group'

// ---------------------------------------------------------------------------------------
// What the listener serves: src/wire/versions.rs, read as the source of truth.

const API_KEYS = {
  Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, LeaderAndIsr: 4, StopReplica: 5, UpdateMetadata: 6, ControlledShutdown: 7,
  OffsetCommit: 8, OffsetFetch: 9, FindCoordinator: 10, JoinGroup: 11, Heartbeat: 12, LeaveGroup: 13, SyncGroup: 14,
  DescribeGroups: 15, ListGroups: 16, SaslHandshake: 17, ApiVersions: 18, CreateTopics: 19, DeleteTopics: 20,
  DeleteRecords: 21, InitProducerId: 22, OffsetForLeaderEpoch: 23, AddPartitionsToTxn: 24, AddOffsetsToTxn: 25, EndTxn: 26,
  WriteTxnMarkers: 27, TxnOffsetCommit: 28, DescribeAcls: 29, CreateAcls: 30, DeleteAcls: 31, DescribeConfigs: 32,
  AlterConfigs: 33, AlterReplicaLogDirs: 34, DescribeLogDirs: 35, SaslAuthenticate: 36, CreatePartitions: 37,
  CreateDelegationToken: 38, RenewDelegationToken: 39, ExpireDelegationToken: 40, DescribeDelegationToken: 41,
  DeleteGroups: 42, ElectLeaders: 43, IncrementalAlterConfigs: 44, AlterPartitionReassignments: 45,
  ListPartitionReassignments: 46, OffsetDelete: 47, DescribeClientQuotas: 48, AlterClientQuotas: 49,
  DescribeUserScramCredentials: 50, AlterUserScramCredentials: 51, DescribeCluster: 60, DescribeProducers: 61,
  DescribeTransactions: 65, ListTransactions: 66, ConsumerGroupHeartbeat: 68, ConsumerGroupDescribe: 69,
}
// The first version of each API with a flexible (v2) request header (kafka-protocol's
// header_version); Infinity: never.
const FLEXIBLE_FROM = {
  Produce: 9, Fetch: 12, ListOffsets: 6, Metadata: 9, OffsetCommit: 8, OffsetFetch: 6, FindCoordinator: 3, JoinGroup: 6,
  Heartbeat: 4, LeaveGroup: 4, SyncGroup: 4, DescribeGroups: 5, ListGroups: 3, ApiVersions: 3, CreateTopics: 5,
  DeleteTopics: 4, DeleteRecords: 2, InitProducerId: 2, OffsetForLeaderEpoch: 4, DescribeConfigs: 4, AlterConfigs: 2,
  CreatePartitions: 2, DeleteGroups: 2, IncrementalAlterConfigs: 1, OffsetDelete: Infinity, DescribeCluster: 0, DescribeLogDirs: 2,
  ConsumerGroupHeartbeat: 0, AddPartitionsToTxn: 3, AddOffsetsToTxn: 3, EndTxn: 3, TxnOffsetCommit: 3,
  DescribeTransactions: 0, ListTransactions: 0,
}

function supportedApis() {
  const source = fs.readFileSync(path.join(ROOT, 'src', 'wire', 'versions.rs'), 'utf8')
  const table = [...source.matchAll(/\(ApiKey::(\w+),\s*(-?\d+),\s*(-?\d+)\)/g)].map(([, name, min, max]) => {
    if (!(name in API_KEYS) || !(name in FLEXIBLE_FROM)) throw new Error(`wire-fuzz.test.js does not know ApiKey::${name}: add it to API_KEYS and FLEXIBLE_FROM`)
    return { name, apiKey: API_KEYS[name], minVersion: Number(min), maxVersion: Number(max), flexibleFrom: FLEXIBLE_FROM[name] }
  })
  if (table.length < 10) throw new Error(`could not read the SUPPORTED table of src/wire/versions.rs (${table.length} entries)`)
  // What ApiVersions advertises may differ from what is served (`advertised()`: Produce is
  // advertised from v0 for librdkafka's sake, as Kafka 4.0 does).
  const advertised = source.match(/fn advertised\([^)]*\)[^{]*\{([\s\S]*?)\n\}/)
  for (const [, name, min, max] of advertised ? advertised[1].matchAll(/ApiKey::(\w+)\s*=>\s*\((-?\d+|min),\s*(-?\d+|max)\)/g) : []) {
    const api = table.find((a) => a.name === name)
    if (!api) continue
    api.advertisedMin = min === 'min' ? api.minVersion : Number(min)
    api.advertisedMax = max === 'max' ? api.maxVersion : Number(max)
  }
  return table
}

const SUPPORTED = supportedApis()
const SERVED = new Map(SUPPORTED.map((a) => [a.apiKey, a]))
const NAMES = new Map(Object.entries(API_KEYS).map(([n, k]) => [k, n]))
const apiName = (key) => NAMES.get(key) || `key ${key}`

// ---------------------------------------------------------------------------------------
// A seeded PRNG (splitmix32 seeding an sfc32), one stream per worker.

function prng(seed) {
  let s = seed >>> 0
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split()
  let b = split()
  let c = split()
  let d = split()
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  const r = {
    u32,
    float: () => u32() / 4294967296,
    int: (n) => Math.floor((u32() / 4294967296) * n),
    range: (lo, hi) => lo + Math.floor((u32() / 4294967296) * (hi - lo + 1)),
    chance: (p) => u32() / 4294967296 < p,
    pick: (xs) => xs[Math.floor((u32() / 4294967296) * xs.length)],
    bytes: (n) => {
      const out = Buffer.alloc(n)
      for (let i = 0; i < n; i++) out[i] = u32() & 0xff
      return out
    },
    weighted: (entries) => {
      const total = entries.reduce((t, [, w]) => t + w, 0)
      let x = (u32() / 4294967296) * total
      for (const [v, w] of entries) {
        if ((x -= w) < 0) return v
      }
      return entries[entries.length - 1][0]
    },
  }
  return r
}

// ---------------------------------------------------------------------------------------
// The broker process

class BrokerProcess {
  constructor(dataDir, label) {
    this.dataDir = dataDir
    this.label = label
    this.child = null
    this.alive = false
    this.port = 0
    this.host = '127.0.0.1'
    this.logs = []
    this.logCount = 0
    this.uncaught = []
    this.exits = []
    this.stderr = ''
    this.pending = new Map()
    this.nextId = 1
    this.onExit = null
    this.generation = 0
  }

  start(port = 0) {
    this.generation += 1
    return new Promise((resolve, reject) => {
      const child = fork(FIXTURE, [], {
        env: { ...process.env, FUZZ_DATA_DIR: this.dataDir, FUZZ_PORT: String(port), RUST_BACKTRACE: '1' },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      })
      this.child = child
      this.stopping = false
      let stderr = ''
      let listening = false
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`the ${this.label} broker did not start listening within 20 s\n${stderr}`))
      }, 20000)
      child.stdout.on('data', () => {})
      child.stderr.on('data', (d) => {
        stderr = (stderr + d).slice(-200000)
        this.stderr = (this.stderr + d).slice(-400000)
      })
      child.on('message', (m) => {
        if (m.type === 'listening') {
          listening = true
          this.alive = true
          this.host = m.host
          this.port = m.port
          clearTimeout(timer)
          resolve(this)
        } else if (m.type === 'logs') {
          this.logCount += m.lines.length
          this.logs.push(...m.lines)
          if (this.logs.length > 20000) this.logs.splice(0, this.logs.length - 10000)
        } else if (m.type === 'uncaught') {
          this.uncaught.push(m)
        } else if (m.type === 'reply') {
          const p = this.pending.get(m.id)
          if (p) {
            this.pending.delete(m.id)
            if (m.error !== undefined) p.reject(new Error(m.error))
            else p.resolve(m.value)
          }
        }
      })
      child.on('exit', (code, signal) => {
        this.alive = false
        const exit = { code, signal, expected: this.stopping, stderr, at: Date.now() }
        this.exits.push(exit)
        for (const p of this.pending.values()) p.reject(new Error(`the ${this.label} broker exited (${signal || code})`))
        this.pending.clear()
        if (!listening) {
          clearTimeout(timer)
          reject(new Error(`the ${this.label} broker exited (${signal || code}) before listening\n${stderr}`))
        }
        if (this.onExit) this.onExit(exit)
      })
    })
  }

  call(cmd, args = {}, timeoutMs = 60000) {
    if (!this.alive) return Promise.reject(new Error(`the ${this.label} broker is not running`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${cmd} got no answer from the ${this.label} broker within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      })
      this.child.send({ id, cmd, ...args })
    })
  }

  /** Closes the broker cleanly (kafka.close()), or kills it if that does not end it. */
  async stop() {
    if (!this.child || !this.alive) return
    this.stopping = true
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    await this.call('close', {}, 15000).catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15000)
    await exited
    clearTimeout(timer)
  }
}

/** The first lines of a crash's stderr that say what happened, with the numbers taken
 * out, so that crashes of one cause compare equal. */
function crashSignature(exit) {
  const lines = exit.stderr.split('\n')
  const what = lines.find((l) => /memory allocation of|panicked at|fatal|Segmentation|Aborted|abort/i.test(l)) || `exit ${exit.signal || exit.code}`
  return what.replace(/\d+/g, 'N').trim()
}

/** Where in the code a crash happened: its first frames in kafka-protocol or samsa. */
function crashSite(exit) {
  return exit.stderr
    .split('\n')
    .filter((l) => /^\s+\d+: .*(kafka_protocol|samsa)::/.test(l))
    .slice(0, 3)
    .map((l) => l.replace(/^\s+\d+:\s*/, '').trim())
    .join(' <- ')
}

// ---------------------------------------------------------------------------------------
// Capturing valid requests: kafkajs's own frames, tapped from its sockets.

async function captureCorpus(host, port) {
  const frames = []
  const socketFactory = ({ host: h, port: p, onConnect }) => {
    const socket = net.connect({ host: h, port: p }, onConnect)
    let acc = Buffer.alloc(0)
    const write = socket.write.bind(socket)
    socket.write = (data, ...rest) => {
      acc = Buffer.concat([acc, Buffer.isBuffer(data) ? data : Buffer.from(data, typeof rest[0] === 'string' ? rest[0] : 'utf8')])
      while (acc.length >= 4 && acc.length >= 4 + acc.readInt32BE(0)) {
        const n = acc.readInt32BE(0)
        frames.push(Buffer.from(acc.subarray(0, 4 + n)))
        acc = acc.subarray(4 + n)
      }
      return write(data, ...rest)
    }
    return socket
  }
  const k = new kafkajs.Kafka({
    clientId: 'wire-fuzz-capture',
    brokers: [`${host}:${port}`],
    socketFactory,
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 50 },
  })
  const TOPIC = kafkajs.ConfigResourceTypes.TOPIC
  const admin = k.admin()
  const producer = k.producer()
  const idempotent = k.producer({ idempotent: true, maxInFlightRequests: 1 })
  const consumer = k.consumer({ groupId: 'cap-group', maxWaitTimeInMs: 100, heartbeatInterval: 100, sessionTimeout: 10000, rebalanceTimeout: 10000 })
  try {
    await admin.connect()
    await admin.createTopics({
      topics: [
        { topic: 'cap-alpha', numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '86400000' }] },
        { topic: 'cap-beta', numPartitions: 1 },
        { topic: 'cap-doomed' },
      ],
    })
    await admin.createPartitions({ topicPartitions: [{ topic: 'cap-beta', count: 2 }] })
    await admin.describeConfigs({ resources: [{ type: TOPIC, name: 'cap-alpha' }], includeSynonyms: false })
    await admin.alterConfigs({ resources: [{ type: TOPIC, name: 'cap-beta', configEntries: [{ name: 'retention.ms', value: '604800000' }] }] })
    await producer.connect()
    await producer.send({
      topic: 'cap-alpha',
      messages: [
        { key: 'k1', value: 'v1', headers: { h1: 'x', h2: Buffer.from([1, 2, 3]) } },
        { key: 'k2', value: null, timestamp: '1700000000000' },
        { partition: 2, value: 'explicit' },
        { key: 'k3', value: 'x'.repeat(300) },
      ],
    })
    await producer.send({ topic: 'cap-beta', compression: kafkajs.CompressionTypes.GZIP, messages: [{ key: 'z', value: 'zipped' }, { value: 'zipped-2' }] })
    await producer.sendBatch({ topicMessages: [{ topic: 'cap-alpha', messages: [{ value: 'b1' }] }, { topic: 'cap-beta', messages: [{ value: 'b2' }] }] })
    await idempotent.connect()
    await idempotent.send({ topic: 'cap-alpha', messages: [{ key: 'i1', value: 'once' }, { key: 'i2', value: 'once-2' }] })
    const stored = (await admin.fetchTopicOffsets('cap-alpha')).concat(await admin.fetchTopicOffsets('cap-beta')).reduce((n, p) => n + Number(p.high), 0)
    let seen = 0
    await consumer.connect()
    await consumer.subscribe({ topics: ['cap-alpha', 'cap-beta'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => void (seen += 1) })
    await waitFor(() => seen >= stored, { timeoutMs: 20000, what: `the capture consumer to read ${stored} messages` })
    await consumer.commitOffsets([{ topic: 'cap-alpha', partition: 0, offset: '1' }])
    await consumer.disconnect()
    await admin.fetchOffsets({ groupId: 'cap-group', topics: ['cap-alpha'] })
    await admin.fetchTopicOffsetsByTimestamp('cap-alpha', Date.now() - 60000)
    await admin.deleteTopicRecords({ topic: 'cap-alpha', partitions: [{ partition: 0, offset: '1' }] })
    await admin.describeGroups(['cap-group'])
    await admin.listGroups()
    await admin.describeCluster()
    await admin.fetchTopicMetadata({ topics: ['cap-alpha'] })
    await admin.deleteGroups(['cap-group'])
    await admin.deleteTopics({ topics: ['cap-doomed'] })
  } finally {
    for (const c of [consumer, idempotent, producer, admin]) await c.disconnect().catch(() => {})
  }
  return frames
    .filter((f) => f.length >= 12)
    .map((frame) => ({ frame, apiKey: frame.readInt16BE(4), apiVersion: frame.readInt16BE(6) }))
    .filter((c) => SERVED.has(c.apiKey))
}

// ---------------------------------------------------------------------------------------
// Building frames

const INT32S = [0x7fffffff, -0x80000000, -1, 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x0fffffff, 0x3fffffff, 0x7ffffff0]
const INT16S = [0x7fff, -0x8000, -1, 0, 1, 0x7f, 0x80, 0xff, 0x100]

/** A frame's body with a fresh correlation id and a size prefix matching its length. */
function reframe(body, correlationId) {
  const b = Buffer.from(body)
  if (b.length >= 8) b.writeInt32BE(correlationId, 4)
  const size = Buffer.alloc(4)
  size.writeInt32BE(b.length, 0)
  return Buffer.concat([size, b])
}

function headerOnly(rnd, api, version, correlationId, extraFlexible) {
  const clientId = rnd.pick(['wire-fuzz', '', null, 'x'.repeat(rnd.int(300))])
  return requestFrame({ apiKey: api.apiKey, apiVersion: version, correlationId, clientId, flexible: extraFlexible ?? version >= api.flexibleFrom })
}

/** Random mutations of a request body, leaving its first 8 bytes (key, version,
 * correlation id) alone unless `version` is swapped on purpose. */
function mutate(rnd, body) {
  let b = Buffer.from(body)
  const applied = []
  const pos = () => (b.length > 8 ? 8 + rnd.int(b.length - 8) : 8)
  for (let n = rnd.range(1, 4); n > 0; n--) {
    const kind = rnd.weighted([
      ['flip', 30], ['byte', 12], ['int32', 14], ['int16', 8], ['varint', 5], ['truncate', 8], ['extend', 5],
      ['insert', 6], ['delete', 6], ['duplicate', 3], ['version', 3],
    ])
    applied.push(kind)
    switch (kind) {
      case 'flip':
        for (let k = rnd.range(1, 3); k > 0 && b.length > 8; k--) {
          const at = pos()
          b[at] ^= 1 << rnd.int(8)
        }
        break
      case 'byte':
        if (b.length > 8) b[pos()] = rnd.pick([0, 0xff, 0x7f, 0x80, 1, rnd.int(256)])
        break
      case 'int32':
        if (b.length >= 12) b.writeInt32BE(rnd.chance(0.7) ? rnd.pick(INT32S) : rnd.u32() | 0, 8 + rnd.int(b.length - 11))
        break
      case 'int16':
        if (b.length >= 10) b.writeInt16BE(rnd.pick(INT16S), 8 + rnd.int(b.length - 9))
        break
      case 'varint': {
        // An unsigned varint of up to 2^32 - 1 (compact lengths, tagged field counts).
        const v = rnd.pick([Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])])
        const at = pos()
        b = Buffer.concat([b.subarray(0, at), v, b.subarray(Math.min(b.length, at + v.length))])
        break
      }
      case 'truncate':
        b = b.subarray(0, 8 + rnd.int(Math.max(1, b.length - 8)))
        break
      case 'extend':
        b = Buffer.concat([b, rnd.bytes(rnd.range(1, 64))])
        break
      case 'insert': {
        const at = pos()
        b = Buffer.concat([b.subarray(0, at), rnd.bytes(rnd.range(1, 16)), b.subarray(at)])
        break
      }
      case 'delete': {
        const at = pos()
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rnd.range(1, 16)))])
        break
      }
      case 'duplicate': {
        if (b.length > 12) {
          const from = pos()
          const len = rnd.range(1, Math.min(32, b.length - from))
          const at = pos()
          b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)])
        }
        break
      }
      case 'version': {
        const api = SERVED.get(b.readInt16BE(0))
        if (api) b.writeInt16BE(rnd.range(api.minVersion, api.maxVersion), 2)
        break
      }
    }
  }
  return { body: b, applied }
}

/** The record batches of a Produce request (v3 to v8, non-flexible) as offsets into
 * `body` (the frame without its size): [{ start, end }]. */
function produceBatches(body) {
  const out = []
  let o = 8
  const i16 = () => ((o += 2), body.readInt16BE(o - 2))
  const i32 = () => ((o += 4), body.readInt32BE(o - 4))
  const str = () => {
    const n = i16()
    if (n > 0) o += n
  }
  try {
    str() // client id
    str() // transactional id
    i16() // acks
    i32() // timeout
    for (let t = i32(); t > 0; t--) {
      str()
      for (let p = i32(); p > 0; p--) {
        i32()
        const n = i32()
        const end = o + Math.max(0, n)
        while (o + 12 <= end) {
          const length = body.readInt32BE(o + 8)
          if (length < 49 || o + 12 + length > end) break
          out.push({ start: o, end: o + 12 + length })
          o += 12 + length
        }
        o = end
      }
    }
  } catch {
    // A request that does not parse has no batches to mutate.
  }
  return out
}

/** Mutates the inside of one record batch of a Produce request and fixes the batch's
 * CRC, so that the batch passes the CRC check and its contents are what is tested. */
function mutateBatch(rnd, body) {
  const batches = produceBatches(body)
  if (batches.length === 0) return null
  const b = Buffer.from(body)
  const { start, end } = rnd.pick(batches)
  const applied = []
  for (let n = rnd.range(1, 3); n > 0; n--) {
    // From the attributes (start + 21) to the end: compression bits, offset delta,
    // timestamps, producer fields, record count, the records.
    const at = start + 21 + rnd.int(end - start - 21)
    const kind = rnd.weighted([['flip', 5], ['byte', 3], ['attributes', 1], ['count', 1]])
    applied.push(`batch-${kind}`)
    if (kind === 'flip') b[at] ^= 1 << rnd.int(8)
    else if (kind === 'byte') b[at] = rnd.pick([0, 0xff, 0x7f, 0x80, rnd.int(256)])
    else if (kind === 'attributes') b.writeInt16BE(rnd.pick([1, 2, 3, 4, 7, 0x10, 0x20, 0x08]), start + 21)
    else if (end - start >= 61) b.writeInt32BE(rnd.pick([0, 2, 100, 0x7fffffff, -1]), start + 57)
  }
  b.writeUInt32BE(crc32C(b.subarray(start + 21, end)) >>> 0, start + 17)
  return { body: b, applied }
}

// ---------------------------------------------------------------------------------------
// Attempts: what is sent, and what the listener must do about it.
//
// An attempt is a list of steps on one fresh connection. `expect`:
//   any    - a response with the frame's correlation id, a close, or silence;
//   open   - a response with the frame's correlation id or silence, never a close (valid
//            requests sent as kafkajs sent them);
//   close  - the connection is closed, with no response, within CLOSE_MS;
//   check  - a response checked by `check(response)` (returns a problem or null).
// `thenFin`: after silence, half-close our side; the listener must then close (it reads
// nothing but frames, so a FIN inside or between frames ends the connection).

const CLOSE_MS = 3000
const REPLY_MS = 600

const STRATEGIES = {
  'random-bytes': (rnd) => {
    const n = rnd.chance(0.05) ? rnd.range(4096, 65536) : rnd.range(0, 600)
    const bytes = rnd.bytes(n)
    const sized = n >= 4 && rnd.chance(0.5)
    if (sized) bytes.writeInt32BE(n - 4, 0) // a size that matches: random header and body
    return [{ send: bytes, expect: 'any', thenFin: true, what: `${n} random bytes${sized ? ' (sized)' : ''}` }]
  },

  'size-limits': (rnd) => {
    const size = rnd.pick([0x7fffffff, MAX_FRAME + 1, MAX_FRAME + 1 + rnd.int(0x7fffffff - MAX_FRAME - 1), 0x40000000, -1, -0x80000000, -(1 + rnd.int(0x7fffffff)), 0, 1, 2, 3, 4, 5, 6, 7])
    const prefix = Buffer.alloc(4)
    prefix.writeInt32BE(size, 0)
    // Just the prefix (the listener must not wait for 2 GB to arrive), or the prefix and
    // a little more.
    const bytes = rnd.chance(0.7) ? prefix : Buffer.concat([prefix, rnd.bytes(rnd.range(1, 64))])
    return [{ send: bytes, expect: 'close', what: `size ${size}` }]
  },

  truncated: (rnd) => {
    const api = rnd.pick(SUPPORTED)
    const version = rnd.range(api.minVersion, api.maxVersion)
    const size = rnd.pick([rnd.range(8, 64), rnd.range(64, 4096), rnd.range(4096, 1 << 20), MAX_FRAME])
    const header = headerOnly(rnd, api, version, rnd.u32() | 0).subarray(4)
    const content = Buffer.concat([header, rnd.bytes(Math.max(0, Math.min(size, 2048) - header.length))]).subarray(0, rnd.int(Math.min(size, 2048)))
    const prefix = Buffer.alloc(4)
    prefix.writeInt32BE(size, 0)
    return [{ send: Buffer.concat([prefix, content]), expect: 'silence-then-close', what: `size ${size}, sent ${content.length}` }]
  },

  'header-garbage': (rnd) => {
    const api = rnd.pick(SUPPORTED)
    const version = rnd.range(api.minVersion, api.maxVersion)
    const correlationId = rnd.u32() | 0
    const head = headerOnly(rnd, api, version, correlationId).subarray(4)
    const n = rnd.chance(0.1) ? rnd.range(512, 8192) : rnd.range(0, 96)
    const body = rnd.chance(0.2) ? Buffer.alloc(n, rnd.pick([0, 0xff])) : rnd.bytes(n)
    return [{ send: reframe(Buffer.concat([head, body]), correlationId), expect: 'any', correlationId, what: `${api.name} v${version}` }]
  },

  mutated: (rnd, corpus) => {
    const c = rnd.pick(corpus)
    const correlationId = rnd.u32() | 0
    const { body, applied } = mutate(rnd, c.frame.subarray(4))
    const frame = reframe(body, correlationId)
    // Now and then the size prefix lies about the (mutated) length.
    if (rnd.chance(0.05)) frame.writeInt32BE(Math.max(8, body.length + rnd.range(-8, 8)), 0)
    return [{ send: frame, expect: 'any', correlationId, what: `${apiName(c.apiKey)} v${c.apiVersion} ${applied.join('+')}` }]
  },

  batch: (rnd, corpus) => {
    const produce = corpus.filter((c) => c.apiKey === 0 && c.apiVersion <= 8)
    if (produce.length === 0) return null
    const c = rnd.pick(produce)
    const correlationId = rnd.u32() | 0
    const m = mutateBatch(rnd, c.frame.subarray(4))
    if (!m) return null
    return [{ send: reframe(m.body, correlationId), expect: 'any', correlationId, what: `Produce v${c.apiVersion} ${m.applied.join('+')}` }]
  },

  replay: (rnd, corpus) => {
    // Valid requests as kafkajs sent them, several on one connection: each is answered
    // (or held, as a long poll or a join is), never refused by closing.
    return Array.from({ length: rnd.range(1, 4) }, () => {
      const c = rnd.pick(corpus)
      const correlationId = rnd.u32() | 0
      return { send: reframe(c.frame.subarray(4), correlationId), expect: 'open', correlationId, what: `${apiName(c.apiKey)} v${c.apiVersion}` }
    })
  },

  unsupported: (rnd) => {
    const correlationId = rnd.u32() | 0
    let apiKey
    let version
    if (rnd.chance(0.5)) {
      // A key the listener does not serve: Kafka's others, or no API at all.
      const unserved = Object.values(API_KEYS).filter((k) => !SERVED.has(k))
      apiKey = rnd.chance(0.7) ? rnd.pick(unserved) : rnd.pick([-1, -32768, 32767, 75 + rnd.int(32000), -(2 + rnd.int(30000))])
      version = rnd.int(10)
    } else {
      const api = rnd.pick(SUPPORTED.filter((a) => a.name !== 'ApiVersions'))
      apiKey = api.apiKey
      version = rnd.pick([api.minVersion - 1, api.maxVersion + 1, api.maxVersion + 1 + rnd.int(100), -1, 32767, -32768].filter((v) => v < api.minVersion || v > api.maxVersion))
    }
    const frame = requestFrame({ apiKey, apiVersion: version, correlationId, clientId: 'wire-fuzz', body: rnd.bytes(rnd.range(0, 64)) })
    // Pipelined behind a valid request in the same write: the valid one is answered first.
    if (rnd.chance(0.3)) {
      const ok = requestFrame({ apiKey: 18, apiVersion: 0, correlationId: correlationId ^ 1, clientId: 'wire-fuzz' })
      return [{ send: Buffer.concat([ok, frame]), expect: 'check', correlationId: correlationId ^ 1, check: apiVersionsCheck(0), then: 'close', what: `ApiVersions v0 + ${apiName(apiKey)} v${version}` }]
    }
    return [{ send: frame, expect: 'close', what: `${apiName(apiKey)} v${version}` }]
  },

  'api-versions': (rnd) => {
    const correlationId = rnd.u32() | 0
    const version = rnd.pick([4, 5, 10, 127, 32767, -1, -32768, 4 + rnd.int(32000)])
    const body = rnd.chance(0.5) ? Buffer.alloc(0) : rnd.bytes(rnd.range(1, 32))
    const frame = requestFrame({ apiKey: 18, apiVersion: version, correlationId, clientId: rnd.pick(['wire-fuzz', null]), flexible: rnd.chance(0.5), body })
    // KIP-511: error 35 in the v0 format, then the connection is still usable.
    const v0 = requestFrame({ apiKey: 18, apiVersion: 0, correlationId: correlationId ^ 0x55, clientId: 'wire-fuzz' })
    const v3 = requestFrame({
      apiKey: 18,
      apiVersion: 3,
      correlationId: correlationId ^ 0x77,
      clientId: 'wire-fuzz',
      flexible: true,
      body: Buffer.from([10, ...Buffer.from('wirefuzz1'), 4, ...Buffer.from('1.0'), 0]),
    })
    return [
      { send: frame, expect: 'check', correlationId, check: apiVersionsCheck(35), what: `ApiVersions v${version}` },
      { send: v0, expect: 'check', correlationId: correlationId ^ 0x55, check: apiVersionsCheck(0), what: 'ApiVersions v0 after' },
      { send: v3, expect: 'check', correlationId: correlationId ^ 0x77, check: (r) => (r.payload.readInt16BE(0) === 0 ? null : `ApiVersions v3 answered error ${r.payload.readInt16BE(0)}`), what: 'ApiVersions v3 after' },
    ]
  },
}

const EXPECTED_APIS = SUPPORTED.map(({ apiKey, minVersion, maxVersion, advertisedMin, advertisedMax }) => ({
  apiKey,
  minVersion: advertisedMin ?? minVersion,
  maxVersion: advertisedMax ?? maxVersion,
})).sort((a, b) => a.apiKey - b.apiKey)

/** An ApiVersions response in the v0 format with `errorCode` and the served table. */
function apiVersionsCheck(errorCode) {
  return (r) => {
    let d
    try {
      d = decodeApiVersionsV0(r.payload)
    } catch (e) {
      return `ApiVersions response does not decode as v0: ${e.message} (${r.payload.toString('hex')})`
    }
    if (d.errorCode !== errorCode) return `ApiVersions answered error ${d.errorCode}, expected ${errorCode}`
    const got = [...d.apis].sort((a, b) => a.apiKey - b.apiKey)
    if (JSON.stringify(got) !== JSON.stringify(EXPECTED_APIS)) return `ApiVersions lists ${JSON.stringify(got)}, src/wire/versions.rs serves ${JSON.stringify(EXPECTED_APIS)}`
    if (d.rest !== 0) return `ApiVersions v0 response has ${d.rest} bytes after its api keys`
    return null
  }
}

const WEIGHTS = {
  'random-bytes': 10,
  'size-limits': 8,
  truncated: 8,
  'header-garbage': 20,
  mutated: 30,
  batch: 8,
  replay: 5,
  unsupported: 6,
  'api-versions': 5,
}

// ---------------------------------------------------------------------------------------
// Live traffic: a kafkajs producer and consumer that must keep working.

async function startLiveTraffic(host, port) {
  const k = new kafkajs.Kafka({
    clientId: 'wire-fuzz-live',
    brokers: [`${host}:${port}`],
    logLevel: kafkajs.logLevel.NOTHING,
    // Long enough to ride out a broker restart after a crash (reported as a failure anyway).
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
  })
  const admin = k.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: LIVE_TOPIC, numPartitions: 3 }] })
  const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const consumer = k.consumer({ groupId: LIVE_GROUP, maxWaitTimeInMs: 100, heartbeatInterval: 300, sessionTimeout: 10000, rebalanceTimeout: 10000 })
  const live = { k, admin, producer, consumer, consumers: [consumer], sent: 0, acked: new Set(), failed: [], consumed: new Map(), deliveries: 0, crashes: [], stop: false }
  await runLiveConsumer(live, consumer)
  live.loop = (async () => {
    while (!live.stop) {
      const seq = live.sent++
      try {
        await producer.send({ topic: LIVE_TOPIC, messages: [{ key: `rider-${seq % 23}`, value: String(seq) }] })
        live.acked.add(String(seq))
      } catch (e) {
        live.failed.push({ seq, error: `${e.name}: ${e.message}` })
      }
      // Pacing (about 100 sends a second), not a wait for a state.
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  return live
}

async function runLiveConsumer(live, consumer) {
  consumer.on(consumer.events.CRASH, (e) => {
    const error = e.payload.error || {}
    live.crashes.push({ error: `${error.name}: ${error.message}`, restart: e.payload.restart })
  })
  await consumer.connect()
  await consumer.subscribe({ topic: LIVE_TOPIC, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      live.deliveries += 1
      live.consumed.set(`${partition}/${message.offset}`, message.value.toString())
    },
  })
}

// ---------------------------------------------------------------------------------------
// Running attempts

/** Sends one attempt's steps on a fresh connection; returns its outcome and any problems. */
async function runAttempt(host, port, steps, inflight) {
  let sock
  try {
    sock = await WireSocket.connect(host, port, { timeoutMs: 3000 })
  } catch (e) {
    return { outcome: 'connect-failed', problems: [], error: e.message }
  }
  const problems = []
  let outcome = 'response'
  try {
    for (const step of steps) {
      inflight.step = step
      // The last frames sent, for finding the one that killed the broker: its exit is
      // seen only after the connections drop.
      inflight.recent.push({ step, at: Date.now() })
      if (inflight.recent.length > 4) inflight.recent.shift()
      const kind = step.expect
      // Silence is what a truncated frame must get: a short look is enough.
      const timeoutMs = kind === 'close' ? CLOSE_MS : kind === 'silence-then-close' ? 150 : REPLY_MS
      const r = await sock.exchange(step.send, { timeoutMs })
      if (r.kind === 'response' && step.correlationId !== undefined && r.correlationId !== step.correlationId) {
        problems.push(`answered correlation id ${r.correlationId} to a request with ${step.correlationId}`)
      }
      if (kind === 'close' && r.kind !== 'closed') problems.push(`expected the connection to be closed, got ${r.kind}${r.kind === 'response' ? ` (${r.payload.length} bytes)` : ''}`)
      if (kind === 'open' && r.kind === 'closed') problems.push('a valid request (as kafkajs sent it) got its connection closed')
      if (kind === 'silence-then-close' && r.kind === 'response') problems.push(`a truncated frame got a response (${r.payload.length} bytes)`)
      if (kind === 'check') {
        if (r.kind !== 'response') problems.push(`expected a response, got ${r.kind}`)
        else {
          const p = step.check(r)
          if (p) problems.push(p)
        }
        if (step.then === 'close' && r.kind === 'response') {
          const after = await sock.next({ timeoutMs: CLOSE_MS })
          if (after.kind !== 'closed') problems.push(`expected the connection to be closed after the valid request's response, got ${after.kind}`)
        }
      }
      outcome = r.kind
      if (r.kind === 'closed') break
      if (r.kind === 'timeout') {
        if (step.thenFin || kind === 'silence-then-close') {
          // Nothing complete was sent: a FIN must end the connection promptly.
          sock.socket.end()
          if (!(await sock.waitClosed({ timeoutMs: CLOSE_MS }))) problems.push(`the connection stayed open ${CLOSE_MS} ms after our FIN inside a frame`)
        }
        break
      }
    }
  } finally {
    sock.end()
    inflight.step = null
  }
  return { outcome, problems }
}

const hex = (b, max = 4096) => (b.length > max ? `${b.subarray(0, max).toString('hex')}... (${b.length} bytes)` : b.toString('hex'))

/** Replays each candidate frame alone against a fresh broker: those that kill it. */
async function findCrashers(candidates) {
  const found = []
  for (const c of candidates.slice(0, 12)) {
    const b = new BrokerProcess(tempDir('samsa-fuzz-repro-'), 'reproduction')
    await b.start()
    const died = new Promise((resolve) => (b.onExit = resolve))
    let sock
    try {
      sock = await WireSocket.connect(b.host, b.port)
      sock.write(c.send)
      const exit = await Promise.race([died, sock.next({ timeoutMs: 3000 }).then(() => Promise.race([died, new Promise((r) => setTimeout(() => r(null), 500))]))])
      if (exit && !exit.expected) found.push({ ...c, exit })
    } finally {
      if (sock) sock.end()
      await b.stop()
    }
    if (found.length > 0) break
  }
  return found
}

// ---------------------------------------------------------------------------------------
// The rules one by one, each with a fixed frame, against a broker in this process.

describe('frame rules (broker in this process)', () => {
  const samsa = require('..')
  let server
  let address
  beforeAll(async () => {
    server = new samsa.Kafka({ clientId: 'wire-rules', dataDir: tempDir('samsa-wire-rules-'), logLevel: samsa.logLevel.NOTHING })
    address = await server.listen({ port: 0, host: '127.0.0.1' })
  })
  afterAll(async () => {
    await server.close()
  })
  const connect = () => WireSocket.connect(address.host, address.port)

  /** The broker still answers a fresh connection. */
  async function stillServing() {
    const s = await connect()
    const r = await s.exchange(requestFrame({ apiKey: 18, apiVersion: 0, correlationId: 99 }), { timeoutMs: 5000 })
    s.end()
    expect([r.kind, r.correlationId]).toEqual(['response', 99])
  }

  test.each([
    ['2^31-1', 0x7fffffff],
    ['the limit + 1', MAX_FRAME + 1],
    ['1 GiB', 1 << 30],
    ['-1', -1],
    ['-2^31', -0x80000000],
    ['0', 0],
    ['4', 4],
    ['7', 7],
  ])('a size prefix of %s closes the connection at once, without reading on', async (_, size) => {
    const s = await connect()
    const prefix = Buffer.alloc(4)
    prefix.writeInt32BE(size, 0)
    const r = await s.exchange(prefix, { timeoutMs: CLOSE_MS })
    s.end()
    expect(r.kind).toBe('closed')
    await stillServing()
  })

  test('a frame cut short and followed by a FIN closes the connection; so does one cut inside its size', async () => {
    for (const bytes of [Buffer.from([0, 0, 1, 0, 0, 3, 0, 1]), Buffer.from([0, 0])]) {
      const s = await connect()
      s.write(bytes)
      expect(await s.next({ timeoutMs: 200 })).toEqual({ kind: 'timeout' })
      s.socket.end()
      expect(await s.waitClosed({ timeoutMs: CLOSE_MS })).toBe(true)
      s.end()
    }
    await stillServing()
  })

  test.each([4, 100, 32767, -1])('ApiVersions v%s gets error 35 in the v0 format, and the connection stays usable', async (version) => {
    const s = await connect()
    const r = await s.exchange(requestFrame({ apiKey: 18, apiVersion: version, correlationId: 7 }), { timeoutMs: 5000 })
    expect([r.kind, r.correlationId]).toEqual(['response', 7])
    expect(apiVersionsCheck(35)(r)).toBeNull()
    const again = await s.exchange(requestFrame({ apiKey: 18, apiVersion: 0, correlationId: 8 }), { timeoutMs: 5000 })
    expect([again.kind, again.correlationId]).toEqual(['response', 8])
    expect(apiVersionsCheck(0)(again)).toBeNull()
    s.end()
  })

  test.each([
    ['LeaderAndIsr (4)', 4, 0],
    ['SaslHandshake (17)', 17, 1],
    ['WriteTxnMarkers (27), which brokers send each other', 27, 1],
    ['key 32767', 32767, 0],
    ['key -1', -1, 0],
    ['Produce v2 (below the range served)', 0, 2],
    ['Fetch v18 (above it)', 1, 18],
    ['Metadata v0', 3, 0],
  ])('%s closes the connection without a response', async (_, apiKey, apiVersion) => {
    const s = await connect()
    const r = await s.exchange(requestFrame({ apiKey, apiVersion, correlationId: 5, body: Buffer.alloc(16) }), { timeoutMs: CLOSE_MS })
    s.end()
    expect(r.kind).toBe('closed')
    await stillServing()
  })

  // Kafka validates every record of a batch it appends (LogValidator) and refuses a
  // malformed one with CORRUPT_MESSAGE or INVALID_RECORD; a CRC only proves the bytes
  // arrived as the client framed them.
  test.each([
    ['a record whose length runs past the batch', 'garbage'],
    ['two records claimed, the second cut short', 'short'],
    ['gzip in the attributes over uncompressed records', 'gzip'],
  ])('a Produce with a CRC-valid batch holding %s is refused, and the partition stays readable', async (_, kind) => {
    const Encoder = require('kafkajs/src/protocol/encoder')
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0')
    const Record = require('kafkajs/src/protocol/recordBatch/record/v0')
    const topic = `malformed-${kind}`
    const admin = server.admin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const good = Record({ offsetDelta: 0, timestampDelta: 0, key: null, value: Buffer.from('ok'), headers: {} })
    const records = {
      garbage: [new Encoder().writeBuffer(Buffer.from([0x7e, 1, 2, 3, 4, 5, 6, 7]))],
      short: [good, new Encoder().writeBuffer(Buffer.from([0x02, 0x00]))],
      gzip: [good],
    }[kind]
    const now = Date.now()
    const batch = (await RecordBatch({ records, lastOffsetDelta: records.length - 1, firstTimestamp: now, maxTimestamp: now })).buffer
    if (kind === 'gzip') {
      batch.writeInt16BE(1, 21)
      batch.writeUInt32BE(crc32C(batch.subarray(21)) >>> 0, 17)
    }
    const body = Buffer.concat([
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0x13, 0x88]), // no transactional id, acks -1, timeout 5000
      Buffer.from([0, 0, 0, 1, 0, topic.length]),
      Buffer.from(topic),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), // one partition: 0
      Buffer.from([(batch.length >>> 24) & 0xff, (batch.length >>> 16) & 0xff, (batch.length >>> 8) & 0xff, batch.length & 0xff]),
      batch,
    ])
    const s = await connect()
    const r = await s.exchange(requestFrame({ apiKey: 0, apiVersion: 3, correlationId: 11, body }), { timeoutMs: 5000 })
    s.end()
    expect([r.kind, r.correlationId]).toEqual(['response', 11])
    const { decode } = require('kafkajs/src/protocol/requests/produce/v3/response')
    const { topics } = await decode(r.payload)
    const errorCode = topics[0].partitions[0].errorCode
    expect([2, 87]).toContain(errorCode) // CORRUPT_MESSAGE or INVALID_RECORD
    // Nothing stored, and what comes next reads back in-process.
    expect((await admin.fetchTopicOffsets(topic))[0].high).toBe('0')
    const producer = server.producer()
    await producer.connect()
    await producer.send({ topic, messages: [{ value: 'after' }] })
    await producer.disconnect()
    const consumer = server.consumer({ groupId: `g-${kind}`, maxWaitTimeInMs: 50 })
    const got = []
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void got.push(String(message.value)) })
    try {
      await waitFor(() => got.length > 0, { timeoutMs: 5000, what: `the message after the refused batch on ${topic}` })
    } finally {
      await consumer.disconnect()
      await admin.disconnect()
    }
    expect(got).toEqual(['after'])
  })
})

// ---------------------------------------------------------------------------------------
// Counts that claim more elements than the frame could hold: the decoder must fail on the
// missing bytes, not reserve memory for the count first. Each against a broker process of
// its own, because today the reservation aborts the process.

describe('element counts beyond the frame (broker in a child process)', () => {
  const int32 = (n) => {
    const b = Buffer.alloc(4)
    b.writeInt32BE(n, 0)
    return b
  }
  test.each([
    ['Metadata v1, topics: 2^31-1', { apiKey: 3, apiVersion: 1, body: int32(0x7fffffff) }],
    ['Metadata v9, topics: compact 2^32-2', { apiKey: 3, apiVersion: 9, flexible: true, body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]) }],
    ['CreateTopics v2, topics: 2^30', { apiKey: 19, apiVersion: 2, body: int32(1 << 30) }],
    ['Produce v3, topics: 2^31-1', { apiKey: 0, apiVersion: 3, body: Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0x13, 0x88]), int32(0x7fffffff)]) }],
    // group "g", generation -1, member "", retention -1, then the topics' count.
    ['OffsetCommit v2, topics: 2^31-1', { apiKey: 8, apiVersion: 2, body: Buffer.concat([Buffer.from([0, 1, 0x67, 0xff, 0xff, 0xff, 0xff, 0, 0]), Buffer.alloc(8, 0xff), int32(0x7fffffff)]) }],
  ])('%s: the connection is closed and the broker lives on', async (_, request) => {
    const broker = new BrokerProcess(tempDir('samsa-wire-counts-'), 'counts')
    await broker.start()
    const exited = new Promise((resolve) => (broker.onExit = resolve))
    try {
      const s = await WireSocket.connect(broker.host, broker.port)
      const r = await s.exchange(requestFrame({ correlationId: 3, ...request }), { timeoutMs: CLOSE_MS })
      s.end()
      // An abort shows as the connection closing too: wait a moment for the exit.
      const exit = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(null), 300))])
      if (exit) throw new Error(`the broker process died (${exit.signal || exit.code}):\n${exit.stderr.split('\n').slice(0, 12).join('\n')}`)
      expect(r.kind).toBe('closed')
      const again = await WireSocket.connect(broker.host, broker.port)
      const ok = await again.exchange(requestFrame({ apiKey: 18, apiVersion: 0, correlationId: 4 }), { timeoutMs: 5000 })
      again.end()
      expect([ok.kind, ok.correlationId]).toEqual(['response', 4])
    } finally {
      await broker.stop()
    }
  })
})

// ---------------------------------------------------------------------------------------

test(`the listener survives random, truncated, oversized and mutated frames (seed ${SEED})`, async () => {
  // eslint-disable-next-line no-console
  console.log(`wire fuzz: seed ${SEED} (replay with WIRE_FUZZ_SEED=${SEED}), ${FUZZ_MS / 1000} s, ${WORKERS} connections`)
  const dataDir = tempDir('samsa-wire-fuzz-')
  const broker = new BrokerProcess(dataDir, 'fuzzed')
  await broker.start()
  const { host } = broker
  const port = broker.port
  const problems = []
  const crashes = []
  const inflights = Array.from({ length: WORKERS }, () => ({ step: null, recent: [] }))
  let restarting = null

  broker.onExit = (exit) => {
    if (exit.expected) return
    const crash = {
      at: exit.at,
      signal: exit.signal,
      code: exit.code,
      signature: crashSignature(exit),
      site: crashSite(exit),
      stderr: exit.stderr.slice(-6000),
      // Every frame sent in the last 2 s before the exit, newest first.
      candidates: inflights
        .flatMap((i) => i.recent)
        .filter((r) => r.at >= exit.at - 2000)
        .sort((a, b) => b.at - a.at)
        .map((r) => r.step)
        .filter((step, k, all) => all.indexOf(step) === k),
      logTail: broker.logs.slice(-15),
    }
    crashes.push(crash)
    if (crashes.length < MAX_CRASHES) {
      // Go on fuzzing against a restarted broker (same port, same data directory).
      restarting = broker.start(port).then(
        () => (restarting = null),
        (e) => {
          problems.push(`restarting the broker after a crash failed: ${e.message}`)
          restarting = null
        }
      )
    }
  }

  let live = null
  const stats = { attempts: 0, connectFailures: 0, byStrategy: {}, outcomes: {} }
  const startedAt = Date.now()
  try {
    // 1. Valid requests, as kafkajs sends them.
    const corpus = await captureCorpus(host, port)
    const corpusApis = {}
    for (const c of corpus) corpusApis[`${apiName(c.apiKey)} v${c.apiVersion}`] = (corpusApis[`${apiName(c.apiKey)} v${c.apiVersion}`] || 0) + 1
    expect(corpus.length).toBeGreaterThan(30)

    // 2. Traffic that must keep flowing.
    live = await startLiveTraffic(host, port)
    await waitFor(() => live.consumed.size > 0, { timeoutMs: 20000, what: 'the live consumer to receive its first message' })

    // 3. The fuzzing.
    const only = process.env.WIRE_FUZZ_STRATEGIES ? process.env.WIRE_FUZZ_STRATEGIES.split(',') : null
    const weights = Object.entries(WEIGHTS).filter(([name]) => !only || only.includes(name))
    const ackedBefore = live.acked.size
    const fuzzStarted = Date.now()
    const deadline = fuzzStarted + FUZZ_MS
    const stopFuzzing = () => Date.now() >= deadline || crashes.length >= MAX_CRASHES
    await Promise.all(
      inflights.map(async (inflight, w) => {
        const rnd = prng((SEED + Math.imul(w + 1, 0x9e3779b1)) >>> 0)
        while (!stopFuzzing()) {
          if (restarting) await restarting
          if (!broker.alive) {
            if (crashes.length >= MAX_CRASHES) break
            await waitFor(() => broker.alive || stopFuzzing() || crashes.length >= MAX_CRASHES, { timeoutMs: 30000, what: 'the broker to restart' })
            continue
          }
          const strategy = rnd.weighted(weights)
          const steps = STRATEGIES[strategy](rnd, corpus)
          if (!steps) {
            await new Promise((r) => setImmediate(r))
            continue
          }
          const generation = broker.generation
          const { outcome, problems: found, error } = await runAttempt(host, port, steps, inflight)
          if (outcome === 'connect-failed') {
            // Refused while the broker lives (and does not die within a moment): a problem.
            stats.connectFailures += 1
            const died = await waitFor(() => !broker.alive || broker.generation !== generation, { timeoutMs: 1000, intervalMs: 20 }).catch(() => false)
            if (!died) problems.push(`a new connection failed while the broker was running: ${error}`)
            continue
          }
          stats.attempts += 1
          stats.byStrategy[strategy] = (stats.byStrategy[strategy] || 0) + 1
          stats.outcomes[outcome] = (stats.outcomes[outcome] || 0) + 1
          // A problem seen while the broker was crashing is the crash's, reported with it
          // (the exit is seen a moment after the connections drop).
          if (found.length > 0) await waitFor(() => !broker.alive || broker.generation !== generation, { timeoutMs: 500, intervalMs: 20 }).catch(() => {})
          if (found.length > 0 && broker.alive && broker.generation === generation) {
            problems.push(`${strategy} (${steps.map((s) => s.what || '').join(' / ')}): ${found.join('; ')}\n  frame: ${hex(steps[0].send, 512)}`)
          }
        }
      })
    )
    stats.fuzzMs = Date.now() - fuzzStarted
    const ackedDuring = live.acked.size - ackedBefore
    if (restarting) await restarting
    if (!broker.alive) await broker.start(port)

    // 4. The live traffic went on; everything acknowledged is there and was consumed.
    live.stop = true
    await live.loop
    const highs = async () => (await live.admin.fetchTopicOffsets(LIVE_TOPIC)).sort((a, b) => a.partition - b.partition)
    // kafkajs gives a consumer up when the broker stays away through its retries (it can
    // when the broker crashed, a failure reported on its own): a new member of the group
    // takes over from the committed offsets.
    if (live.crashes.some((c) => c.restart === false)) {
      const next = live.k.consumer({ groupId: LIVE_GROUP, maxWaitTimeInMs: 100, heartbeatInterval: 300, sessionTimeout: 10000, rebalanceTimeout: 10000 })
      live.consumers.push(next)
      await runLiveConsumer(live, next)
    }
    const stored = await highs()
    const total = stored.reduce((n, p) => n + Number(p.high) - Number(p.low), 0)
    await waitFor(() => live.consumed.size >= total, { timeoutMs: 30000, what: `the live consumer to catch up with ${total} stored messages` }).catch((e) =>
      problems.push(`${e.message} (has ${live.consumed.size}; the consumer crashed ${live.crashes.length} times: ${JSON.stringify(live.crashes.slice(-3))})`)
    )
    const values = new Set(live.consumed.values())
    const lost = [...live.acked].filter((seq) => !values.has(seq))
    if (lost.length > 0) problems.push(`${lost.length} acknowledged messages were never consumed: ${lost.slice(0, 20).join(', ')}`)
    for (const p of stored) {
      const offsets = [...live.consumed.keys()].filter((k) => k.startsWith(`${p.partition}/`)).length
      if (offsets !== Number(p.high)) problems.push(`live partition ${p.partition}: high watermark ${p.high}, ${offsets} distinct offsets consumed`)
    }
    if (total < live.acked.size || total > live.sent) problems.push(`live topic holds ${total} messages for ${live.acked.size} acknowledged of ${live.sent} sent`)
    // The producer sends up to 100 a second; a tenth of that while fuzzing is the floor
    // (not when the broker crashed meanwhile: the crash is the problem reported).
    if (crashes.length === 0 && ackedDuring < Math.floor(stats.fuzzMs / 100)) {
      problems.push(`only ${ackedDuring} live messages were acknowledged during ${stats.fuzzMs} ms of fuzzing (${live.failed.length} sends failed: ${JSON.stringify(live.failed.slice(0, 3))})`)
    }
    stats.live = { sent: live.sent, acked: live.acked.size, failed: live.failed.length, stored: total, consumed: live.consumed.size, deliveries: live.deliveries, consumerCrashes: live.crashes.length }

    // 5. The log verifies, and reads back whole in-process.
    const report = await broker.call('verify')
    if (!report.ok) problems.push(`verify() found damage: ${JSON.stringify(report.damage).slice(0, 2000)}`)
    stats.verify = { partitions: report.partitions, batches: report.batches, bytes: report.bytes }
    const read = await broker.call('readAll')
    const unreadable = Object.entries(read).filter(([, r]) => r.error)
    if (unreadable.length > 0) {
      problems.push(
        `${unreadable.length} partitions no longer read back in-process (verify said ${report.ok ? 'ok' : 'damage'}; the 'CRC-valid batch' tests above are minimal cases): ${unreadable
          .slice(0, 5)
          .map(([tp, r]) => `${tp} [${r.low}, ${r.high}) read ${r.read}: ${r.error}`)
          .join('; ')}`
      )
    }
    stats.topics = new Set(Object.keys(read).map((tp) => tp.split('/')[0])).size

    // 6. A fresh connection still gets Metadata, and many at once still get ApiVersions.
    const fresh = await WireSocket.connect(broker.host, broker.port)
    const metadata = await fresh.exchange(requestFrame({ apiKey: 3, apiVersion: 1, correlationId: 4242, body: Buffer.from([0xff, 0xff, 0xff, 0xff]) }), { timeoutMs: 5000 })
    fresh.end()
    if (metadata.kind !== 'response' || metadata.correlationId !== 4242) problems.push(`Metadata v1 on a fresh connection: ${metadata.kind}`)
    const many = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const s = await WireSocket.connect(broker.host, broker.port)
        const r = await s.exchange(requestFrame({ apiKey: 18, apiVersion: 0, correlationId: i }), { timeoutMs: 5000 })
        s.end()
        return r.kind === 'response' && r.correlationId === i
      })
    )
    if (!many.every(Boolean)) problems.push(`${many.filter((x) => !x).length} of 50 concurrent fresh connections got no ApiVersions answer`)
    const k = new kafkajs.Kafka({ clientId: 'wire-fuzz-after', brokers: [`${broker.host}:${broker.port}`], logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 1 } })
    const admin = k.admin()
    await admin.connect()
    const md = await admin.fetchTopicMetadata({ topics: [LIVE_TOPIC] })
    await admin.disconnect()
    expect(md.topics[0].partitions).toHaveLength(3)

    // 7. The broker process itself: no uncaught exceptions, no Rust panics.
    for (const u of broker.uncaught) problems.push(`uncaught in the broker process (${u.kind}): ${u.error}`)
    const panics = broker.stderr.split('\n').filter((l) => /panicked at/.test(l))
    if (panics.length > 0) problems.push(`${panics.length} Rust panics in the broker process, e.g. ${panics.slice(0, 3).join(' | ')}`)

    stats.corpus = corpusApis
  } finally {
    if (live) {
      live.stop = true
      await live.loop
      await Promise.all([...live.consumers, live.producer, live.admin].map((c) => c.disconnect().catch(() => {})))
    }
    await broker.stop()
  }

  // Crashes: the frame in flight that kills a fresh broker on its own, per kind of crash.
  const signatures = new Map()
  // One crash of each kind, preferably one whose stderr has a backtrace.
  const score = (c) => (c.site ? 2 : 0) + (c.candidates.length > 0 ? 1 : 0)
  for (const c of crashes) if (!signatures.has(c.signature) || score(c) > score(signatures.get(c.signature))) signatures.set(c.signature, c)
  for (const [signature, c] of [...signatures].slice(0, 3)) {
    const repro = await findCrashers(c.candidates)
    const r = repro[0]
    problems.push(
      [
        `the broker process died (${c.signal || `exit ${c.code}`}): ${signature}${c.site ? ` in ${c.site}` : ''} (${crashes.filter((x) => x.signature === signature).length} of ${crashes.length} crashes)`,
        `  frames sent in the 2 s before: ${c.candidates.map((x) => x.what || '?').join(' | ')}`,
        r
          ? `  reproduction (kills a fresh broker on its own; write it to a fresh connection):\n    ${hex(r.send)}\n    (${r.what})`
          : '  no single in-flight frame reproduces it on a fresh broker',
        `  stderr:\n${c.stderr.split('\n').slice(0, 25).map((l) => `    ${l}`).join('\n')}`,
        `  last log lines:\n${c.logTail.map((l) => `    ${JSON.stringify(l)}`).join('\n')}`,
      ].join('\n')
    )
  }

  stats.runMs = Date.now() - startedAt
  stats.crashes = crashes.length
  stats.crashKinds = [...signatures.keys()]
  stats.brokerLogLines = broker.logCount
  // eslint-disable-next-line no-console
  console.log(`wire fuzz (seed ${SEED}): ${JSON.stringify(stats, null, 1)}`)
  expect(problems).toEqual([])
})
