'use strict'

// Hostile input over the Kafka protocol: compressed batches that expand to gigabytes, and
// connections that open and say nothing or send a frame a byte at a time. The broker runs
// as `samsa serve` in a child process whose memory is watched: it is killed the moment it
// passes a hard limit (so a regression cannot take the machine down), and each test bounds
// how much it may grow.

const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const zlib = require('node:zlib')
const lz4 = require('lz4-napi')
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C')
const { tempDir, waitFor } = require('./helpers')
const { serve, kafkajsClient } = require('./wire-helpers')
const { requestFrame, WireSocket } = require('./fixtures/kafka-wire')

jest.setTimeout(120000)

const MiB = 1024 * 1024
// The child is killed past this resident size, whatever the test.
const HARD_LIMIT = 1536 * MiB

/** Polls a process's resident memory; kills it past HARD_LIMIT. Its peak is the larger of
 * what polling saw and the kernel's high-water mark (VmHWM, reset when watching begins), so
 * a spike between two polls is counted too. */
function watchMemory(pid) {
  const status = (field) => {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      return m ? Number(m[1]) * 1024 : 0
    } catch {
      return 0
    }
  }
  const rss = () => status('VmRSS')
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5') // VmHWM := VmRSS
  } catch {}
  const base = rss()
  let peak = base
  let killed = false
  const timer = setInterval(() => {
    const now = rss()
    peak = Math.max(peak, now)
    if (now > HARD_LIMIT && !killed) {
      killed = true
      process.kill(pid, 'SIGKILL')
    }
  }, 10)
  return {
    base,
    /** Growth of the peak over the resident size when watching began. */
    grown: () => Math.max(peak, status('VmHWM')) - base,
    killed: () => killed,
    stop: () => clearInterval(timer),
  }
}

// ---------------------------------------------------------------------------------------
// Record batches, built by hand.

function varint(v) {
  let z = BigInt.asUintN(64, (BigInt(v) << 1n) ^ (BigInt(v) >> 63n))
  const out = []
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80)
    z >>= 7n
  }
  out.push(Number(z))
  return Buffer.from(out)
}

/** The bytes of one record before and after a value of `valueLength` bytes (key null, no headers). */
function recordAround(valueLength) {
  const lenOfValueLen = varint(valueLength).length
  const bodyLength = 1 + 1 + 1 + 1 + lenOfValueLen + valueLength + 1
  const before = Buffer.concat([varint(bodyLength), Buffer.from([0, 0, 0]), varint(-1), varint(valueLength)])
  return { before, after: varint(0) }
}

/** A RecordBatch v2 of `count` records whose records section is `records`, as compressed with `codec`. */
function batch(codec, records, count = 1) {
  const header = Buffer.alloc(61)
  header.writeBigInt64BE(0n, 0)
  header.writeInt32BE(49 + records.length, 8)
  header.writeInt32BE(0, 12)
  header.writeInt8(2, 16)
  header.writeInt16BE(codec, 21)
  header.writeInt32BE(count - 1, 23)
  header.writeBigInt64BE(BigInt(Date.now()), 27)
  header.writeBigInt64BE(BigInt(Date.now()), 35)
  header.writeBigInt64BE(-1n, 43)
  header.writeInt16BE(-1, 51)
  header.writeInt32BE(-1, 53)
  header.writeInt32BE(count, 57)
  const out = Buffer.concat([header, records])
  out.writeUInt32BE(crc32C(out.subarray(21)), 17)
  return out
}

/** gzip: members concatenated (as GZIPInputStream and zlib read them): the record's head,
 * `mib` members of 1 MiB of zeros each (about 1 KiB apiece), its tail. */
function gzipBomb(mib) {
  const { before, after } = recordAround(mib * MiB)
  const zeros = zlib.gzipSync(Buffer.alloc(MiB), { level: 9 })
  return batch(1, Buffer.concat([zlib.gzipSync(before), ...Array(mib).fill(zeros), zlib.gzipSync(after)]))
}

/** zstd: one frame of raw and RLE blocks (4 bytes per 128 KiB of zeros), declaring a
 * window of 2^windowLog bytes (1 MiB by default; 27, 128 MiB, is the most zstd decodes
 * without being told to allow more, and its pages are touched as output is produced). */
function zstdBomb(mib, windowLog = 20) {
  const { before, after } = recordAround(mib * MiB)
  const block = (last, type, size) => {
    const h = Buffer.alloc(3)
    h.writeUIntLE((size << 3) | (type << 1) | (last ? 1 : 0), 0, 3)
    return h
  }
  // Magic, frame header descriptor 0 (no content size, no checksum), the window.
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3]), block(false, 0, before.length), before]
  for (let i = 0; i < mib * 8; i++) parts.push(block(false, 1, 128 * 1024), Buffer.from([0]))
  parts.push(block(true, 0, after.length), after)
  return batch(4, Buffer.concat(parts))
}

/** lz4: one frame, compressed by lz4-napi (zeros compress about 250 times). */
function lz4Bomb(mib) {
  const { before, after } = recordAround(mib * MiB)
  return batch(3, lz4.compressFrameSync(Buffer.concat([before, Buffer.alloc(mib * MiB), after])))
}

/** snappy: a xerial stream whose one block claims to expand to 4 GiB. */
function snappyBomb() {
  const block = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(64, 0x41)])
  const xerial = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1])
  const length = Buffer.alloc(4)
  length.writeUInt32BE(block.length)
  return batch(2, Buffer.concat([xerial, length, block]))
}

function str(s) {
  const b = Buffer.from(s)
  const len = Buffer.alloc(2)
  len.writeInt16BE(b.length)
  return Buffer.concat([len, b])
}

/** Produce v3 of one batch to partition 0 of `topic`, acks 1. */
function produceV3(topic, records, correlationId) {
  const head = Buffer.alloc(2 + 2 + 4 + 4)
  head.writeInt16BE(-1, 0) // transactional id: null
  head.writeInt16BE(1, 2) // acks
  head.writeInt32BE(30000, 4)
  head.writeInt32BE(1, 8) // one topic
  const partition = Buffer.alloc(4 + 4 + 4)
  partition.writeInt32BE(1, 0) // one partition
  partition.writeInt32BE(0, 4)
  partition.writeInt32BE(records.length, 8)
  const body = Buffer.concat([head, str(topic), partition, records])
  return requestFrame({ apiKey: 0, apiVersion: 3, correlationId, body })
}

/** The first partition's error code of a Produce v3 response payload. */
function produceError(payload) {
  let o = 4 // one topic
  o += 2 + payload.readInt16BE(o) // its name
  o += 4 + 4 // one partition, its index
  return payload.readInt16BE(o)
}

/** A kafkajs round trip through the broker: it still serves. */
async function stillServes(broker, topic) {
  const { kafka } = kafkajsClient(broker, { connectionTimeout: 3000 })
  const producer = kafka.producer()
  await producer.connect()
  const [r] = await producer.send({ topic, messages: [{ value: 'still here' }] })
  await producer.disconnect()
  expect(r.errorCode).toBe(0)
}

test('compressed batches that expand to gigabytes are refused in bounded memory, each codec', async () => {
  const dataDir = tempDir()
  const broker = await serve(dataDir)
  const memory = watchMemory(broker.child.pid)
  try {
    const { kafka } = kafkajsClient(broker.broker)
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'bombs' }] })
    await admin.disconnect()
    const bombs = [
      ['zstd, 2 GiB of records', zstdBomb(2048), 10],
      ['snappy, a block claiming 4 GiB', snappyBomb(), 87],
      ['gzip, 512 MiB', gzipBomb(512), 10],
      ['lz4, 200 MiB', lz4Bomb(200), 10],
    ]
    const socket = await WireSocket.connect('127.0.0.1', broker.port)
    let correlationId = 1
    for (const [what, records, code] of bombs) {
      expect(records.length).toBeLessThan(MiB) // within max.message.bytes
      const started = Date.now()
      const r = await socket.exchange(produceV3('bombs', records, correlationId++), { timeoutMs: 20000 })
      expect({ what, kind: r.kind, killed: memory.killed() }).toEqual({ what, kind: 'response', killed: false })
      expect({ what, code: produceError(r.payload) }).toEqual({ what, code })
      expect(Date.now() - started).toBeLessThan(10000)
    }
    socket.end()
    // The cap is 64 MiB of expanded records, and a batch is checked as a stream, one
    // record's fields at a time: nothing near the cap is ever held.
    expect(memory.grown()).toBeLessThan(64 * MiB)
    await stillServes(broker.broker, 'bombs')
    const offsets = await (async () => {
      const a = kafkajsClient(broker.broker).kafka.admin()
      await a.connect()
      const o = await a.fetchTopicOffsets('bombs')
      await a.disconnect()
      return o
    })()
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, high: '1', low: '0' })])
  } finally {
    memory.stop()
    await broker.stop()
  }
})

test('compressed batches sent at once are expanded a few at a time: memory is bounded for the whole listener', async () => {
  const broker = await serve(tempDir())
  const memory = watchMemory(broker.child.pid)
  const { kafka } = kafkajsClient(broker.broker, { connectionTimeout: 3000 })
  const admin = kafka.admin()
  const producer = kafka.producer()
  const consumer = kafka.consumer({ groupId: 'beside-bombs', maxWaitTimeInMs: 100 })
  const sockets = []
  try {
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'bombs' }, { topic: 'beside' }] })
    await admin.disconnect()
    // An ordinary client, connected and assigned before the bombs.
    await producer.connect()
    await consumer.connect()
    await consumer.subscribe({ topic: 'beside', fromBeginning: true })
    const received = []
    let joined = false
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true))
    await consumer.run({ eachMessage: async ({ message }) => received.push(message.value.toString()) })
    await waitFor(() => joined, { timeoutMs: 15000, what: 'the consumer to join its group' })

    // Each bomb is 2 KiB: a zstd frame declaring a 128 MiB window, expanding past the 64
    // MiB cap. Checked all at once, eight would hold 8 x 64 MiB; the process expands at
    // most as many compressed batches at a time as it has cores, 2 to 4.
    const permits = Math.min(Math.max(os.availableParallelism(), 2), 4)
    const bomb = produceV3('bombs', zstdBomb(65, 27), 1)
    expect(bomb.length).toBeLessThan(4096)
    for (let i = 0; i < 8; i++) sockets.push(await WireSocket.connect('127.0.0.1', broker.port))
    const codes = []
    let served = false
    const bombing = sockets.map(async (socket) => {
      // At least three rounds, and on until the ordinary client was served (100 at most).
      for (let round = 0; round < 3 || (!served && round < 100); round++) {
        const r = await socket.exchange(bomb, { timeoutMs: 20000 })
        codes.push(r.kind === 'response' ? produceError(r.payload) : r.kind)
      }
    })
    const started = Date.now()
    // Meanwhile, on its own connections, the ordinary client produces and consumes.
    const [sent] = await producer.send({ topic: 'beside', messages: [{ value: 'among the bombs' }] })
    await waitFor(() => received.includes('among the bombs'), { timeoutMs: 10000, intervalMs: 10, what: 'the message among the bombs' })
    const took = Date.now() - started
    const answeredWhenServed = codes.length
    served = true
    await Promise.all(bombing)
    expect(sent.errorCode).toBe(0)
    expect(took).toBeLessThan(5000)
    // Served while bombs were still being answered.
    expect(answeredWhenServed).toBeLessThan(codes.length)
    // Every bomb refused as the single one is: MESSAGE_TOO_LARGE.
    expect(codes.length).toBeGreaterThanOrEqual(24)
    expect(new Set(codes)).toEqual(new Set([10]))
    expect(memory.killed()).toBe(false)
    // That many expansions of 64 MiB at most, and the listener's own buffers: well below
    // the 8 x 64 MiB the bombs would hold if each were expanded as it arrived.
    expect(memory.grown()).toBeLessThan(permits * 64 * MiB + 32 * MiB)
  } finally {
    for (const s of sockets) s.socket.destroy()
    await consumer.disconnect().catch(() => {})
    await producer.disconnect().catch(() => {})
    memory.stop()
    await broker.stop()
  }
})

/** A raw connection; resolves once connected. */
function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

const closedSoon = (s) => new Promise((resolve) => (s.destroyed ? resolve() : s.once('close', resolve)))

/** Opens `n` connections: even ones say nothing, odd ones send a 60 MB frame a byte every
 * 200 ms. Returns them with when each closed (null while open). */
async function stallers(port, n, timers) {
  const out = []
  for (let i = 0; i < n; i++) {
    const s = await connect(port)
    s.on('error', () => {})
    const entry = { s, closedAt: null }
    s.on('close', () => (entry.closedAt = Date.now()))
    out.push(entry)
    if (i % 2 === 1) {
      const size = Buffer.alloc(4)
      size.writeInt32BE(60 * MiB)
      s.write(size)
      timers.push(setInterval(() => s.writable && s.write(Buffer.from([0])), 200))
    }
  }
  return out
}

const within = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms))])

test('past maxConnections a new client takes the slot of the connection gone longest without a request', async () => {
  // Frames would time out only after 30 s: what frees a slot here is eviction.
  const broker = await serve(tempDir(), { extra: ['--max-connections', '40', '--request-read-timeout-ms', '30000'] })
  const timers = []
  let held = []
  try {
    held = await stallers(broker.port, 40, timers)
    const started = Date.now()
    const { kafka } = kafkajsClient(broker.broker, { connectionTimeout: 5000, retry: { retries: 0 } })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'served' }] })
    await admin.disconnect()
    expect(Date.now() - started).toBeLessThan(10000)
    // The oldest connections made room, long before any deadline.
    const evicted = held.filter((h) => h.closedAt !== null)
    expect(evicted.length).toBeGreaterThan(0)
    expect(held[0].closedAt).not.toBeNull()
    expect(Math.max(...evicted.map((h) => h.closedAt)) - started).toBeLessThan(10000)
  } finally {
    timers.forEach(clearInterval)
    for (const h of held) h.s.destroy()
    await broker.stop()
  }
})

test('a request not whole within the read timeout closes its connection; a partial frame costs what arrived', async () => {
  const limits = ['--request-read-timeout-ms', '2000', '--max-request-bytes', String(64 * MiB), '--max-queued-request-bytes', String(64 * MiB)]
  const broker = await serve(tempDir(), { extra: limits })
  const memory = watchMemory(broker.child.pid)
  const timers = []
  let held = []
  try {
    const started = Date.now()
    held = await stallers(broker.port, 20, timers)
    await within(Promise.all(held.map((h) => closedSoon(h.s))), 8000, 'stalled connections were still open')
    // Not before their deadline: the timeout closed them.
    expect(Math.min(...held.map((h) => h.closedAt)) - started).toBeGreaterThan(1500)
    timers.forEach(clearInterval)

    // Eight connections each send half of a 60 MB frame, then stall: they hold what
    // arrived, within the listener's 64 MiB for frames in progress, not what they declare.
    const half = Buffer.alloc(30 * MiB, 1)
    const big = []
    for (let i = 0; i < 8; i++) {
      const s = await connect(broker.port)
      s.on('error', () => {})
      const frame = Buffer.alloc(4)
      frame.writeInt32BE(60 * MiB)
      s.write(frame)
      s.write(half)
      big.push(s)
    }
    await within(Promise.all(big.map(closedSoon)), 10000, 'half-sent frames were still open')
    expect(memory.killed()).toBe(false)
    expect(memory.grown()).toBeLessThan(64 * MiB + 48 * MiB)
    await stillServes(broker.broker, 'after-stalls')
  } finally {
    timers.forEach(clearInterval)
    for (const h of held) h.s.destroy()
    memory.stop()
    await broker.stop()
  }
})

test('the request limits are listen() options, checked', async () => {
  const { Kafka, logLevel } = require('..')
  const kafka = new Kafka({ dataDir: tempDir(), logLevel: logLevel.NOTHING })
  await expect(kafka.listen({ port: 0, maxConnections: 0 })).rejects.toThrow(/maxConnections must be an integer from 1/)
  await expect(kafka.listen({ port: 0, requestReadTimeoutMs: '5s' })).rejects.toThrow(/requestReadTimeoutMs must be an integer/)
  await expect(kafka.listen({ port: 0, maxRequestBytes: 64 * MiB, maxQueuedRequestBytes: MiB })).rejects.toThrow(/maxQueuedRequestBytes .* must be at least maxRequestBytes/)
  await expect(kafka.listen({ port: 0, maxConections: 5 })).rejects.toThrow(/no option "maxConections"/)
  const address = await kafka.listen({ port: 0, maxConnections: 5, requestReadTimeoutMs: 1000 })
  // A connection that says nothing is closed after the read timeout.
  const s = await connect(address.port)
  s.on('error', () => {})
  s.resume()
  const started = Date.now()
  await within(closedSoon(s), 5000, 'the silent connection was still open')
  expect(Date.now() - started).toBeGreaterThan(500)
  await kafka.close()
})

test('a client that hangs up is no news (no warning); a frame that cannot be a request still warns', async () => {
  const broker = await serve(tempDir())
  try {
    // Hang-ups as librdkafka's look to the broker: a reset after a request, a reset in the
    // middle of one, a close between requests.
    for (const how of ['reset after a request', 'reset inside a frame', 'close']) {
      const s = await connect(broker.port)
      s.on('error', () => {})
      const wire = new WireSocket(s)
      const r = await wire.exchange(requestFrame({ apiKey: 18, apiVersion: 0, correlationId: 1 }))
      expect([how, r.kind]).toEqual([how, 'response'])
      if (how === 'reset inside a frame') s.write(Buffer.from([0, 0, 0, 100, 0, 18]))
      if (how === 'close') s.end()
      else s.resetAndDestroy()
      await closedSoon(s)
    }
    // A frame too short for a request header: warned about. Its line shows the native
    // log lines are drained by now (once a second), so the hang-ups' would be there too.
    const bad = await connect(broker.port)
    bad.on('error', () => {})
    bad.write(Buffer.from([0, 0, 0, 2, 0, 0]))
    await closedSoon(bad)
    const warned = await waitFor(() => /closing a Kafka connection: a frame of 2 bytes cannot hold a request header/.test(broker.output()), { timeoutMs: 5000, what: 'the warning' }).then(() => true)
    expect(warned).toBe(true)
    expect(broker.output()).not.toMatch(/went away|reset by peer|Broken pipe/i)
  } finally {
    await broker.stop()
  }
})
