'use strict'

// Compacted topics (cleanup.policy=compact, issue 23) through samsa's own doors: the
// in-process API and a second process on the same data directory. The cleaner runs by
// itself in the broker (cleanerBackoffMs 50); a test holds it off with a year of
// min.compaction.lag.ms while it writes, ends with a "sealer" record that rolls the active
// segment, then lets the cleaner go (alterConfigs) and waits for its "cleaned a partition"
// log line. Then it reads the topic back through the public API and compares with a model
// of what was sent: per key the latest record, at its original offset (the log has gaps).

const path = require('node:path')
const { ConfigResourceTypes } = require('..')
const { until, spawnNode } = require('./wire-helpers')
const { batchHeaders } = require('./helpers')
const { compacted, entries, samsaBroker, cleanupAfterEach, plain, Model, sealer, increasing, brief } = require('./compaction-helpers')

jest.setTimeout(60000)

const { made, connected } = cleanupAfterEach()

/** Sends one batch to partition 0 and records it in the model; returns its records. */
async function sendTo(producer, model, topic, messages) {
  const [r] = await producer.send({ topic, messages: messages.map((m) => ({ partition: 0, ...m })) })
  expect(r.errorCode).toBe(0)
  return model.add(r.baseOffset, messages)
}

/**
 * A broker of its own (options: samsaBroker's) with `topics` ({ name: configs }) created, a
 * connected admin and producer, a model of partition 0 of the first topic, and `send`, which
 * sends one batch there and records it.
 */
async function setup(topics, options = {}) {
  const b = samsaBroker(options, made)
  const admin = await connected(b.kafka.admin())
  await admin.createTopics({ topics: Object.entries(topics).map(([topic, configs]) => ({ topic, configEntries: entries(configs) })) })
  const producer = await connected(b.kafka.producer())
  const model = new Model()
  const send = (messages) => sendTo(producer, model, Object.keys(topics)[0], messages)
  return { b, kafka: b.kafka, dataDir: b.dataDir, admin, producer, model, send }
}

async function alter(admin, topic, configs) {
  await admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: entries(configs) }] })
}

async function committed(admin, groupId, topic) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Number(t.partitions.find((p) => p.partition === 0).offset)
}

async function offsets(admin, topic) {
  const [o] = await admin.fetchTopicOffsets(topic)
  return { low: Number(o.low), high: Number(o.high) }
}

/**
 * Runs a samsa consumer of `groupId` (fromBeginning) until it has seen offset `last`, then
 * disconnects (committing what it resolved). With mode 'batch' it uses eachBatch and keeps
 * each batch's first and last offsets. Returns { got, batches, times: offset -> timestamp }.
 */
async function consumeUntil(kafka, { topic, groupId, last, mode = 'message', timeoutMs = 15000, joined }) {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
  const got = []
  const batches = []
  const times = new Map()
  const crashes = []
  const note = (m) => {
    times.set(Number(m.offset), Number(m.timestamp))
    return plain(m)
  }
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error.message))
  if (joined) consumer.on(consumer.events.GROUP_JOIN, joined)
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run(
      mode === 'batch'
        ? {
            eachBatch: async ({ batch }) => {
              const messages = batch.messages.map(note)
              batches.push({ first: Number(batch.firstOffset()), last: Number(batch.lastOffset()), messages })
              got.push(...messages)
            },
          }
        : { eachMessage: async ({ message }) => got.push(note(message)) },
    )
    await until(() => got.some((g) => g.offset >= last), {
      timeoutMs,
      what: () => ` offset ${last} of ${topic} in group ${groupId} (${mode}); got ${got.length}: ${brief(got.slice(-8))}; crashes: ${crashes.join('; ')}`,
    })
  } finally {
    await consumer.disconnect()
  }
  expect(crashes).toEqual([])
  return { got, batches, times }
}

/** Batches of an eachBatch read: none empty, each in offset order, each after the one before. */
function checkBatches(batches) {
  for (let i = 0; i < batches.length; i++) {
    const b = batches[i]
    expect(b.messages.length).toBeGreaterThan(0)
    increasing(b.messages)
    expect([b.first, b.last]).toEqual([b.messages[0].offset, b.messages[b.messages.length - 1].offset])
    if (i > 0) expect(b.first).toBeGreaterThan(batches[i - 1].last)
  }
}

const keyOf = (i) => `k${String(i).padStart(2, '0')}`
const KEYS = Array.from({ length: 20 }, (_, i) => keyOf(i))
const val = (tag, key) => `${tag}-${key}-${'v'.repeat(40)}`

describe('compacted topics in process', () => {
  test('after cleaning, consumers read the latest record of every key at its original offset; groups resume across gaps, removed batch tails and removed batches', async () => {
    const topic = 'positions'
    const configs = compacted({ 'delete.retention.ms': '3600000' })
    const { b, kafka, admin, producer, model, send } = await setup({ [topic]: configs })

    // Three rounds over twenty keys, five to a batch; the last round deletes k05 and k06.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < KEYS.length; i += 5) {
        await send(KEYS.slice(i, i + 5).map((key) => ({ key, value: round === 2 && (key === 'k05' || key === 'k06') ? null : val(`r${round}`, key) })))
      }
    }
    const firstEnd = model.next
    expect(firstEnd).toBe(60)
    // Group "resume" reads all of it (eachBatch) and commits as it leaves.
    const a = await consumeUntil(kafka, { topic, groupId: 'resume', last: firstEnd - 1, mode: 'batch' })
    expect(a.got).toEqual(model.records)
    expect(await committed(admin, 'resume', topic)).toBe(firstEnd)

    // x: superseded whole by z, so "resume" stands at a removed batch.
    const x = await send(KEYS.slice(0, 5).map((key) => ({ key, value: val('x', key) })))
    // y: its last two records (k13, k14) are superseded by w; its first three stay.
    const y = await send(['k10', 'k11', 'k12', 'k13', 'k14'].map((key) => ({ key, value: val('y', key) })))
    const z = await send(KEYS.slice(0, 5).map((key) => ({ key, value: val('z', key) })))
    // w: k05 written again after its tombstone, k07 deleted.
    const w = await send([
      { key: 'k13', value: val('w', 'k13') },
      { key: 'k14', value: val('w', 'k14') },
      { key: 'k05', value: val('w', 'k05') },
      { key: 'k07', value: null },
      { key: 'k08', value: val('w', 'k08') },
    ])
    const [seal] = await send([sealer()])
    expect(await offsets(admin, topic)).toEqual({ low: 0, high: seal.offset + 1 })
    expect(b.passes(topic)).toEqual([]) // held off by min.compaction.lag.ms
    const uncleaned = await consumeUntil(kafka, { topic, groupId: 'before-cleaning', last: seal.offset })
    expect(uncleaned.got).toEqual(model.records)

    await alter(admin, topic, { ...configs, 'min.compaction.lag.ms': '0' })
    const [pass] = await b.waitPasses(topic, 1)
    const expected = model.expected({ activeBase: seal.offset })
    expect(pass.removed).toBe(model.records.length - expected.length)
    expect(pass.keys).toBe(KEYS.length)
    // What the model says, spelled out for this log: x gone, y's tail gone, k05's tombstone
    // gone (written again), k06's and k07's tombstones kept, every key once.
    const at = new Set(expected.map((r) => r.offset))
    expect(x.some((r) => at.has(r.offset))).toBe(false)
    expect(y.map((r) => at.has(r.offset))).toEqual([true, true, true, false, false])
    expect(z.every((r) => at.has(r.offset)) && w.every((r) => at.has(r.offset))).toBe(true)
    expect(expected.filter((r) => r.value === null).map((r) => r.key).sort()).toEqual(['k06', 'k07'])
    expect(new Set(expected.map((r) => r.key)).size).toBe(expected.length)
    // Offsets and the log start did not move.
    expect(await offsets(admin, topic)).toEqual({ low: 0, high: seal.offset + 1 })

    // On disk: y rebuilt with its base and last offsets and three records; x gone.
    const headers = batchHeaders(b.dataDir, topic, 0)
    expect(headers.find((h) => h.baseOffset === y[0].offset)).toMatchObject({ lastOffset: y[4].offset, count: 3 })
    expect(headers.filter((h) => h.lastOffset >= x[0].offset && h.baseOffset <= x[4].offset)).toEqual([])
    // The batches of the kept tombstones (k06's, k07's) carry a delete horizon.
    const tombstoneBatches = expected.filter((r) => r.value === null).map((r) => headers.find((h) => h.baseOffset <= r.offset && r.offset <= h.lastOffset))
    expect(tombstoneBatches.map((h) => h.horizon)).toEqual([true, true])
    // A new group from the beginning, eachMessage.
    const m = await consumeUntil(kafka, { topic, groupId: 'fresh-message', last: seal.offset })
    expect(brief(m.got)).toBe(brief(expected))
    expect(m.got).toEqual(expected)
    // Timestamps as sent, those of the kept tombstones (whose batches now carry a delete
    // horizon) too.
    expect(m.got.map((r) => [r.offset, m.times.get(r.offset)])).toEqual(m.got.map((r) => [r.offset, uncleaned.times.get(r.offset)]))
    // Offsets by timestamp: the first kept record at or after the time of a removed one.
    for (const removed of [x[0], y[3], model.records.find((r) => r.key === 'k05' && r.value === null)]) {
      const t = uncleaned.times.get(removed.offset)
      const [o] = await admin.fetchTopicOffsetsByTimestamp(topic, t)
      const want = expected.find((r) => uncleaned.times.get(r.offset) >= t).offset
      expect({ removed: removed.offset, offset: Number(o.offset) }).toEqual({ removed: removed.offset, offset: want })
    }

    // eachBatch: no empty batches, each after the last, gaps between them.
    const bb = await consumeUntil(kafka, { topic, groupId: 'fresh-batch', last: seal.offset, mode: 'batch' })
    expect(bb.got).toEqual(expected)
    checkBatches(bb.batches)
    expect(bb.batches.some((batch, i) => i > 0 && batch.first > bb.batches[i - 1].last + 1)).toBe(true)
    expect(await committed(admin, 'fresh-batch', topic)).toBe(seal.offset + 1)

    // Group "resume" again: it committed 60, the first offset of x, which is gone; it goes on
    // from there (no records before 60 again, no stall at the gap), and commits the end.
    const r = await consumeUntil(kafka, { topic, groupId: 'resume', last: seal.offset })
    expect(r.got).toEqual(expected.filter((e) => e.offset >= firstEnd))
    expect(await committed(admin, 'resume', topic)).toBe(seal.offset + 1)

    // A group whose committed offset is inside y's removed tail, and one inside removed x.
    await admin.setOffsets({ groupId: 'in-tail', topic, partitions: [{ partition: 0, offset: String(y[3].offset) }] })
    const t = await consumeUntil(kafka, { topic, groupId: 'in-tail', last: seal.offset, mode: 'batch' })
    expect(t.got).toEqual(expected.filter((e) => e.offset >= y[3].offset))
    checkBatches(t.batches)
    await admin.setOffsets({ groupId: 'in-x', topic, partitions: [{ partition: 0, offset: String(x[2].offset) }] })
    const g = await consumeUntil(kafka, { topic, groupId: 'in-x', last: seal.offset })
    expect(g.got).toEqual(expected.filter((e) => e.offset >= x[2].offset))

    // "resume" once more, at the end: it gets what is sent next, and only that.
    let joined = false
    const next = consumeUntil(kafka, { topic, groupId: 'resume', last: seal.offset + 1, joined: () => (joined = true) })
    await until(() => joined, { timeoutMs: 10000, what: 'group resume to join' })
    const [after] = await send([{ key: 'k00', value: 'after' }])
    expect((await next).got).toEqual([after])

    // Closed and opened again: the cleaned log reads the same; the groups' offsets stay.
    await producer.disconnect()
    await admin.disconnect()
    await kafka.close()
    const again = samsaBroker({ dataDir: b.dataDir }, made)
    const admin2 = await connected(again.kafka.admin())
    expect(await offsets(admin2, topic)).toEqual({ low: 0, high: after.offset + 1 })
    expect(await committed(admin2, 'resume', topic)).toBe(after.offset + 1)
    expect(await committed(admin2, 'in-tail', topic)).toBe(seal.offset + 1)
    const reread = await consumeUntil(again.kafka, { topic, groupId: 'after-restart', last: after.offset, mode: 'batch' })
    expect(reread.got).toEqual([...expected, after])
    checkBatches(reread.batches)
  })

  test('tombstones go after delete.retention.ms in a pass the cleaner starts by itself; a group committed before the emptied last batches reads on past them', async () => {
    const topic = 'riders'
    const retention = 3000
    const configs = compacted({ 'delete.retention.ms': String(retention) })
    const { b, kafka, admin, model, send } = await setup({ [topic]: configs })
    const keys = KEYS.slice(0, 10)
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < keys.length; i += 5) await send(keys.slice(i, i + 5).map((key) => ({ key, value: val(`r${round}`, key) })))
    }
    // Group "tail" reads up to here and commits.
    const liveEnd = model.next
    await consumeUntil(kafka, { topic, groupId: 'tail', last: liveEnd - 1 })
    expect(await committed(admin, 'tail', topic)).toBe(liveEnd)
    // The last batches before the sealer are tombstones only, sent by an idempotent producer:
    // once they go, only the producer's last batch stays, emptied (it keeps the producer's
    // sequence), between the removed ones and the active segment.
    const idempotent = await connected(kafka.producer({ idempotent: true }))
    const deleted = ['k01', 'k02', 'k03', 'k04']
    const tombstones = []
    for (const batch of [['k01'], ['k02', 'k03'], ['k04']]) tombstones.push(...(await sendTo(idempotent, model, topic, batch.map((key) => ({ key, value: null })))))
    const [seal] = await send([sealer()])

    const letGo = Date.now()
    await alter(admin, topic, { ...configs, 'min.compaction.lag.ms': '0' })
    const [first] = await b.waitPasses(topic, 1)
    const withTombstones = model.expected({ activeBase: seal.offset })
    const without = model.expected({ activeBase: seal.offset, tombstonesGone: true })
    expect(first.removed).toBe(model.records.length - withTombstones.length)
    // Read at once: a reader that gets to the end within delete.retention.ms sees every
    // delete. (The horizon is at least letGo + retention; on a machine so slow that the read
    // ends later, a tombstone may be gone: then not one record of its key.)
    const early = await consumeUntil(kafka, { topic, groupId: 'early', last: seal.offset })
    const withinRetention = Date.now() < letGo + retention
    expect(early.got.filter((r) => r.value !== null)).toEqual(without)
    const earlyTombstones = early.got.filter((r) => r.value === null)
    if (withinRetention) expect(earlyTombstones).toEqual(tombstones)
    else for (const t of earlyTombstones) expect(tombstones).toContainEqual(t)

    // No new writes: the cleaner comes back by itself once the horizon has passed.
    const [, second] = await b.waitPasses(topic, 2, { timeoutMs: retention + 10000 })
    expect(second.removed).toBe(tombstones.length)
    expect(second.at - first.at).toBeGreaterThan(retention / 2)

    // On disk between the live records and the sealer: one empty batch, the producer's last.
    const between = batchHeaders(b.dataDir, topic, 0).filter((h) => h.lastOffset >= liveEnd && h.baseOffset < seal.offset)
    expect(between).toEqual([expect.objectContaining({ baseOffset: tombstones[3].offset, lastOffset: tombstones[3].offset, count: 0 })])
    expect(between[0].producerId).toBeGreaterThanOrEqual(0)
    const fresh = await consumeUntil(kafka, { topic, groupId: 'fresh', last: seal.offset, mode: 'batch' })
    expect(fresh.got).toEqual(without)
    checkBatches(fresh.batches)
    expect(fresh.got.filter((r) => deleted.includes(r.key))).toEqual([])
    expect(await offsets(admin, topic)).toEqual({ low: 0, high: seal.offset + 1 })

    // "tail" committed the offset of the first tombstone, which is gone with those after it
    // but the last, left empty: it reads on to the sealer, and nothing else.
    const tail = await consumeUntil(kafka, { topic, groupId: 'tail', last: seal.offset })
    expect(tail.got).toEqual([seal])
    expect(await committed(admin, 'tail', topic)).toBe(seal.offset + 1)
    // Nor is anything due any more.
    expect(b.passes(topic).length).toBe(2)
  })

  test('a topic switched from delete to compact is cleaned (keyless records go), keeps everything while compact only, and back on delete takes keyless records and retention applies', async () => {
    const topic = 'switch'
    const control = 'control'
    const { b, kafka, admin, producer, model, send } = await setup(
      {
        [topic]: { 'cleanup.policy': 'delete', 'segment.bytes': '2000' },
        [control]: { 'cleanup.policy': 'delete', 'segment.bytes': '2000', 'retention.ms': '100' },
      },
      { retentionCheckIntervalMs: 100 },
    )
    const keys = KEYS.slice(0, 10)
    for (let round = 0; round < 3; round++) {
      await send(keys.slice(0, 5).map((key) => ({ key, value: val(`r${round}`, key) })))
      await send([0, 1, 2].map((i) => ({ value: `keyless-${round}-${i}` })))
      await send(keys.slice(5).map((key) => ({ key, value: val(`r${round}`, key) })))
    }
    const [seal] = await send([sealer()])
    const all = await consumeUntil(kafka, { topic, groupId: 'before', last: seal.offset })
    expect(all.got).toEqual(model.records)

    // To compact, with a retention.ms that compact alone must not act on.
    await alter(admin, topic, { 'cleanup.policy': 'compact', 'segment.bytes': '2000', 'min.cleanable.dirty.ratio': '0.01', 'retention.ms': '100' })
    const [pass] = await b.waitPasses(topic, 1)
    const expected = model.expected({ activeBase: seal.offset })
    expect(expected.filter((r) => r.key === null)).toEqual([])
    expect(expected.length).toBe(keys.length + 1)
    expect(pass.removed).toBe(model.records.length - expected.length)
    await expect(producer.send({ topic, messages: [{ value: 'refused' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' })
    const compactedRead = await consumeUntil(kafka, { topic, groupId: 'compacted', last: seal.offset })
    expect(compactedRead.got).toEqual(expected)

    // Retention runs (it empties the control topic), and leaves the compact-only topic alone.
    for (let i = 0; i < 8; i++) await producer.send({ topic: control, messages: [{ value: 'c'.repeat(600) }] })
    await until(async () => (await offsets(admin, control)).low > 0, { timeoutMs: 10000, what: 'retention to delete segments of the control topic' })
    expect((await offsets(admin, topic)).low).toBe(0)
    expect((await consumeUntil(kafka, { topic, groupId: 'compacted-2', last: seal.offset })).got).toEqual(expected)

    // Back to delete: keyless records are taken again.
    await alter(admin, topic, { 'cleanup.policy': 'delete', 'segment.bytes': '2000' })
    const [keyless] = await send([{ value: 'keyless again' }])
    const back = await consumeUntil(kafka, { topic, groupId: 'back', last: keyless.offset })
    expect(back.got).toEqual([...expected, keyless])
    // And retention applies: once every segment is past retention.ms, all of them go.
    await alter(admin, topic, { 'cleanup.policy': 'delete', 'segment.bytes': '2000', 'retention.ms': '100' })
    await until(async () => (await offsets(admin, topic)).low === keyless.offset + 1, {
      timeoutMs: 10000,
      what: `retention to delete every segment of ${topic}`,
    })
    expect(await offsets(admin, topic)).toEqual({ low: keyless.offset + 1, high: keyless.offset + 1 })
    const [last] = await send([{ value: 'after retention' }])
    expect((await consumeUntil(kafka, { topic, groupId: 'after', last: last.offset })).got).toEqual([last])
  })

  test('compact,delete: keyless records refused, retention deletes old segments, the cleaner compacts what is left', async () => {
    const topic = 'both'
    const configs = compacted({ 'cleanup.policy': 'compact,delete', 'retention.ms': String(3600 * 1000) })
    const { b, kafka, admin, producer, model, send } = await setup({ [topic]: configs }, { retentionCheckIntervalMs: 100 })
    const described = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }] })
    expect(described.resources[0].configEntries[0].configValue).toBe('compact,delete')
    await expect(producer.send({ topic, messages: [{ value: 'refused' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' })

    // Records two hours old (past retention.ms), more than a segment of them, then new ones.
    const old = String(Date.now() - 2 * 3600 * 1000)
    const a = ['a0', 'a1', 'a2', 'a3', 'a4']
    const bk = ['b0', 'b1', 'b2', 'b3', 'b4']
    for (let round = 0; round < 8; round++) await send(a.map((key) => ({ key, value: val(`old${round}`, key), timestamp: old })))
    for (let round = 0; round < 4; round++) await send(bk.map((key) => ({ key, value: round === 3 && key === 'b4' ? null : val(`new${round}`, key) })))
    const [seal] = await send([sealer()])

    // Retention deletes the segments of old records only (the cleaner is still held off).
    await until(async () => (await offsets(admin, topic)).low > 0, { timeoutMs: 10000, what: 'retention to delete the old segments' })
    const { low, high } = await offsets(admin, topic)
    expect(high).toBe(seal.offset + 1)
    const firstNew = model.records.find((r) => r.key === 'b0').offset
    expect(low).toBeLessThanOrEqual(firstNew)
    expect(b.passes(topic)).toEqual([])

    await alter(admin, topic, { ...configs, 'min.compaction.lag.ms': '0' })
    const [pass] = await b.waitPasses(topic, 1)
    // The pass keeps the latest old record of each a-key, but the segments it leaves them in
    // hold old records only (the b-records beside them were superseded): as in Kafka, whose
    // retention goes by a segment's newest timestamp, retention deletes those next.
    const lastOld = model.records.filter((r) => a.includes(r.key)).pop().offset
    await until(async () => (await offsets(admin, topic)).low > lastOld, { timeoutMs: 10000, what: 'retention to delete the cleaned segments of old records' })
    const after = await offsets(admin, topic)
    expect(after.high).toBe(high)
    const expected = model.expected({ activeBase: seal.offset, from: after.low })
    expect(pass.removed).toBe(model.records.filter((r) => r.offset >= low).length - model.expected({ activeBase: seal.offset, from: low }).length)
    expect(expected.map((r) => r.key)).toEqual([...bk, '~sealer'])
    expect(expected.map((r) => r.value).slice(0, 5)).toEqual([...bk.slice(0, 4).map((key) => val('new3', key)), null])
    const got = await consumeUntil(kafka, { topic, groupId: 'both', last: seal.offset, mode: 'batch' })
    expect(got.got).toEqual(expected)
    checkBatches(got.batches)
    expect(await offsets(admin, topic)).toEqual(after)
    expect(b.passes(topic).length).toBe(1)
  })

  test('max.compaction.lag.ms: dirt below min.cleanable.dirty.ratio is cleaned once it is that old', async () => {
    const topic = 'lagging'
    const maxLag = 4000
    const configs = compacted({ 'min.cleanable.dirty.ratio': '0.9' })
    const { b, kafka, admin, model, send } = await setup({ [topic]: configs })
    // Sixty keys once each, the cleaner held off; then let go: all dirty, so the first pass is
    // due by the ratio at once.
    const many = Array.from({ length: 60 }, (_, i) => `key${i}`)
    for (let i = 0; i < many.length; i += 5) await send(many.slice(i, i + 5).map((key) => ({ key, value: val('first', key) })))
    // The sealer stays in the active segment through the first pass: the oldest dirty record.
    const dirtySince = Date.now()
    await send([sealer('one')])
    // (min.compaction.lag.ms may not exceed max.compaction.lag.ms: both change at once.)
    await alter(admin, topic, { ...configs, 'min.compaction.lag.ms': '0', 'max.compaction.lag.ms': String(maxLag) })
    const [first] = await b.waitPasses(topic, 1)
    expect(first.removed).toBe(0)
    // Five updates: a dirty share far below 0.9, so only max.compaction.lag.ms makes a pass
    // due, maxLag after the oldest dirty record (the log lines reach JS within a second, and
    // the updates are sent well within maxLag - 1 s of it).
    await send(many.slice(0, 5).map((key) => ({ key, value: val('second', key) })))
    const [seal] = await send([sealer('two')])
    expect(Date.now()).toBeLessThan(dirtySince + maxLag - 1000)
    const [, second] = await b.waitPasses(topic, 2, { timeoutMs: maxLag + 10000 })
    expect(second.at).toBeGreaterThanOrEqual(dirtySince + maxLag)
    expect(second.removed).toBe(5)
    const { got } = await consumeUntil(kafka, { topic, groupId: 'lagging', last: seal.offset })
    expect(got).toEqual(model.expected({ activeBase: seal.offset }))
  })

  test('while the cleaner cleans again and again under a producer, every read from the beginning has increasing offsets, records as sent, and each key at least as new as when the read began', async () => {
    const topic = 'busy'
    const { b, kafka, model, send } = await setup({ [topic]: compacted({ 'min.compaction.lag.ms': '0', 'delete.retention.ms': '3600000' }) })
    const byOffset = new Map()
    const keys = Array.from({ length: 30 }, (_, i) => keyOf(i))
    let stop = false
    let sent = 0
    const writing = (async () => {
      for (let i = 0; !stop; i++) {
        const messages = [0, 1, 2].map((j) => {
          const key = keys[(i * 3 + j) % keys.length]
          return { key, value: i % 17 === 5 && j === 0 ? null : `${key}:${i}:${'p'.repeat(30)}` }
        })
        for (const r of await send(messages)) byOffset.set(r.offset, r)
        sent++
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    const reads = []
    const deadline = Date.now() + 30000
    try {
      while (reads.length < 10 || b.passes(topic).length < 10) {
        if (Date.now() > deadline) throw new Error(`after 30 s: ${reads.length} reads, ${b.passes(topic).length} cleaner passes, ${sent} batches sent`)
        await until(() => sent > 0, { timeoutMs: 5000, what: 'a first send' })
        // What the read must find: for every key, its latest record sent so far or a newer one.
        const latest = new Map()
        for (const r of model.records) latest.set(r.key, r.offset)
        const target = model.next - 1
        const { got } = await consumeUntil(kafka, { topic, groupId: `read-${reads.length}`, last: target, mode: reads.length % 2 ? 'batch' : 'message' })
        increasing(got)
        for (const r of got) if (r.offset <= target) expect(r).toEqual(byOffset.get(r.offset))
        const newest = new Map()
        for (const r of got) newest.set(r.key, r.offset)
        const missing = [...latest].filter(([key, offset]) => !(newest.get(key) >= offset))
        expect({ read: reads.length, missing }).toEqual({ read: reads.length, missing: [] })
        reads.push({ records: got.length, target })
      }
    } finally {
      stop = true
      await writing
    }
    // The reads did meet cleaning: gaps in what they read. (The cleaner's log lines reach
    // JS once a second, so which passes ran during which read is not known here.)
    expect(reads.filter((r) => r.records < r.target + 1).length).toBeGreaterThan(reads.length / 2)
  })

  test('a consumer in another process (not the owner of the data directory) reads the cleaned log from the beginning, across gaps and emptied last batches', async () => {
    const topic = 'shared'
    const configs = compacted({ 'delete.retention.ms': '200' })
    const { b, kafka, dataDir, admin, model, send } = await setup({ [topic]: configs })
    const keys = KEYS.slice(0, 10)
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < keys.length; i += 5) await send(keys.slice(i, i + 5).map((key) => ({ key, value: val(`r${round}`, key) })))
      // A batch whose tail is superseded by the next round.
      await send([{ key: 'k00', value: val(`mid${round}`, 'k00') }, { key: 'k09', value: val(`mid${round}`, 'k09') }])
    }
    // The last batches: tombstones from an idempotent producer, whose last batch stays empty.
    const idempotent = await connected(kafka.producer({ idempotent: true }))
    const tombstones = [...(await sendTo(idempotent, model, topic, [{ key: 'k08', value: null }])), ...(await sendTo(idempotent, model, topic, [{ key: 'k09', value: null }]))]
    const [seal] = await send([sealer()])
    await alter(admin, topic, { ...configs, 'min.compaction.lag.ms': '0' })
    // The first pass keeps the tombstones, the second (after delete.retention.ms) removes them.
    const [, second] = await b.waitPasses(topic, 2)
    expect(second.removed).toBe(tombstones.length)
    const expected = model.expected({ activeBase: seal.offset, tombstonesGone: true })
    const headers = batchHeaders(dataDir, topic, 0)
    expect(headers.filter((h) => h.lastOffset >= tombstones[0].offset && h.baseOffset < seal.offset)).toEqual([expect.objectContaining({ baseOffset: tombstones[1].offset, count: 0 })])
    expect(headers.some((h) => h.count > 0 && h.count < h.lastOffset - h.baseOffset + 1)).toBe(true) // some batch lost its tail

    const reader = (groupId, mode) => spawnNode([path.join(__dirname, 'fixtures', 'compaction-reader.js'), dataDir, topic, groupId, String(seal.offset), mode])
    const records = (proc) =>
      proc.lines
        .filter((l) => l.startsWith('{"o"'))
        .map((l) => JSON.parse(l))
        .map((r) => ({ offset: r.o, key: r.k, value: r.v }))
    for (const mode of ['message', 'batch']) {
      const proc = reader(`remote-${mode}`, mode)
      const exit = await proc.exited
      expect({ exit, stderr: proc.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' })
      expect(proc.lines).toContain('stopped')
      expect(records(proc)).toEqual(expected)
      expect(await committed(admin, `remote-${mode}`, topic)).toBe(seal.offset + 1)
    }
    // A group of the other process whose offset is at the first removed tombstone.
    await admin.setOffsets({ groupId: 'remote-tail', topic, partitions: [{ partition: 0, offset: String(tombstones[0].offset) }] })
    const tail = reader('remote-tail', 'batch')
    expect(await tail.exited).toEqual({ code: 0, signal: null })
    expect(records(tail)).toEqual([seal])
  })
})
