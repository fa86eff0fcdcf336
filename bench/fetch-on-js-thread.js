'use strict'

// What reading the fetch socket on the consumer's own JS thread could give across
// processes, against samsa's consumer in the same run. samsa's consumer in a process that
// does not own the directory gets its records from samsa's thread (which reads the owner's
// Fetch answers) and then from the JS thread it wakes: a hop more than a consumer in the
// owner's process. Here a bare Fetch loop (Fetch v4 over a Node socket to the owner's TCP
// listener, `kafka.listen()`; no group, no commits, no message objects: a floor, not a
// consumer) reads the same stream from a process of its own. Both are fed by bench/processes.js's steady
// producer (10,000 msgs/s in 1 ms ticks, each tick's answers awaited) in a third process;
// runs of the two alternate.
//
//   node bench/fetch-on-js-thread.js [runs]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { once } = require('node:events')
const { Kafka, logLevel } = require('..')
const { child, summary, median } = require('./processes')

const PARTITIONS = 4
const SECONDS = 10

/** A Fetch v4 request frame for `topic`'s partitions from `offsets`, long-polled 100 ms. */
function fetchRequest(correlation, topic, offsets) {
  const name = Buffer.from(topic)
  const frame = Buffer.alloc(4 + 10 + 17 + 4 + 2 + name.length + 4 + 16 * offsets.length)
  let at = 4
  at = frame.writeInt16BE(1, at) // api key: Fetch
  at = frame.writeInt16BE(4, at)
  at = frame.writeInt32BE(correlation, at)
  at = frame.writeInt16BE(-1, at) // no client id
  at = frame.writeInt32BE(-1, at) // replica id
  at = frame.writeInt32BE(100, at) // max wait ms
  at = frame.writeInt32BE(1, at) // min bytes
  at = frame.writeInt32BE(1 << 20, at) // max bytes
  at = frame.writeInt8(0, at) // isolation level
  at = frame.writeInt32BE(1, at) // one topic
  at = frame.writeInt16BE(name.length, at)
  at += name.copy(frame, at)
  at = frame.writeInt32BE(offsets.length, at)
  offsets.forEach((offset, partition) => {
    at = frame.writeInt32BE(partition, at)
    at = frame.writeBigInt64BE(BigInt(offset), at)
    at = frame.writeInt32BE(256 * 1024, at)
  })
  frame.writeInt32BE(at - 4, 0)
  return frame
}

/** Reads a zigzag varint of a record at `pos.at`. */
function varint(bytes, pos) {
  let v = 0
  let shift = 0
  let b
  do {
    b = bytes[pos.at++]
    v |= (b & 0x7f) << shift
    shift += 7
  } while (b & 0x80)
  return (v >>> 1) ^ -(v & 1)
}

/** Calls `onValue(partition, value)` for each record of a Fetch v4 response body (after
 * the size), and moves `offsets` past the batches read. */
function readFetchResponse(body, offsets, onValue) {
  const pos = { at: 8 } // correlation id, throttle time
  const topics = body.readInt32BE(pos.at)
  pos.at += 4
  for (let t = 0; t < topics; t++) {
    pos.at += 2 + body.readInt16BE(pos.at)
    const partitions = body.readInt32BE(pos.at)
    pos.at += 4
    for (let i = 0; i < partitions; i++) {
      const partition = body.readInt32BE(pos.at)
      pos.at += 4 + 2 + 8 + 8 // error code, high watermark, last stable offset
      const aborted = body.readInt32BE(pos.at)
      pos.at += 4 + 16 * Math.max(aborted, 0)
      const size = body.readInt32BE(pos.at)
      pos.at += 4
      const end = pos.at + Math.max(size, 0)
      while (pos.at + 61 <= end) {
        const base = Number(body.readBigInt64BE(pos.at))
        const batchEnd = pos.at + 12 + body.readInt32BE(pos.at + 8)
        if (batchEnd > end) break
        const lastOffsetDelta = body.readInt32BE(pos.at + 23)
        const count = body.readInt32BE(pos.at + 57)
        pos.at += 61
        for (let r = 0; r < count; r++) {
          varint(body, pos) // length
          pos.at += 1 // attributes
          varint(body, pos) // timestamp delta
          varint(body, pos) // offset delta
          const keyLength = varint(body, pos)
          if (keyLength > 0) pos.at += keyLength
          const valueLength = varint(body, pos)
          const value = body.toString('latin1', pos.at, pos.at + valueLength)
          pos.at += valueLength
          const headers = varint(body, pos)
          for (let h = 0; h < headers; h++) {
            pos.at += varint(body, pos)
            const l = varint(body, pos)
            if (l > 0) pos.at += l
          }
          if (base >= offsets[partition]) onValue(partition, value)
        }
        offsets[partition] = Math.max(offsets[partition], base + lastOffsetDelta + 1)
        pos.at = batchEnd
      }
      pos.at = end
    }
  }
}

/** The bare Fetch loop: one request out at a time, the next sent as each answer is read. */
async function bareReader(port, topic, seconds) {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.setNoDelay(true)
  const offsets = new Array(PARTITIONS).fill(0)
  const delays = []
  let pending = Buffer.alloc(0)
  let correlation = 0
  let reading = true
  socket.on('data', (chunk) => {
    const now = performance.timeOrigin + performance.now()
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const size = pending.readInt32BE(0)
      readFetchResponse(pending.subarray(4, 4 + size), offsets, (_, value) => delays.push(now - Number(value)))
      pending = pending.subarray(4 + size)
      if (reading) socket.write(fetchRequest(++correlation, topic, offsets))
    }
  })
  socket.write(fetchRequest(++correlation, topic, offsets))
  console.log('ready')
  await new Promise((r) => setTimeout(r, (seconds + 2) * 1000))
  reading = false
  socket.destroy()
  return delays
}

async function main() {
  const runs = Number(process.argv[2] || 3)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-js-fetch-'))
  const owner = new Kafka({ dataDir, logLevel: logLevel.ERROR })
  const admin = owner.admin()
  await admin.connect()
  const { port } = await owner.listen({ port: 0 })
  const results = { samsa: [], bare: [] }
  for (let r = 0; r < runs; r++) {
    for (const kind of ['samsa', 'bare']) {
      const topic = `live-${kind}-${r}`
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] })
      let ready
      const isReady = new Promise((res) => (ready = res))
      const onLine = (line) => line === 'ready' && ready()
      const consumer =
        kind === 'samsa'
          ? child('latency-consume', [dataDir, topic, SECONDS], onLine)
          : child('bare-fetch', [port, topic, SECONDS], onLine, __filename)
      await isReady
      const sent = await child('latency-produce', [dataDir, topic, SECONDS, 'ticks'])
      results[kind].push({ ...(await consumer), sent: sent.sent })
    }
  }
  const line = (label, xs) => {
    const m = (k) => median(xs.map((x) => x[k])).toFixed(2)
    const p99s = xs.map((x) => x.p99.toFixed(2)).join(', ')
    console.log(`${label} (${xs.map((x) => `${x.count}/${x.sent}`).join(', ')} delivered): p50 ${m('p50')} ms, p99 ${m('p99')} ms (${p99s}), p999 ${m('p999')} ms`)
  }
  console.log(`produce->handler at 10,000 msgs/s across processes, medians of ${runs} runs`)
  line("samsa's consumer in a process that does not own the directory", results.samsa)
  line('a bare Fetch loop reading its socket on the JS thread', results.bare)
  await admin.disconnect()
  await owner.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
}

function fail(e) {
  console.error(e)
  process.exit(1)
}

if (process.argv[2] === '--role') {
  const [, , , , port, topic, seconds] = process.argv
  bareReader(Number(port), topic, Number(seconds))
    .then((delays) => console.log(JSON.stringify(summary(delays))))
    .catch(fail)
} else {
  main().catch(fail)
}
