'use strict'

// The rider-updates example run as a user would: the app on an ephemeral port, updates
// posted over HTTP, SQLite checked for exactly-once rows in the right partition, and the
// live map's Server-Sent Events read as map.html reads them.

const fs = require('node:fs')
const path = require('node:path')
const { randomUUID } = require('node:crypto')
const { Kafka, logLevel, ConfigResourceTypes } = require('..')
const { createRiderApp, dataPaths } = require('../examples/rider-updates/server')
const { REGIONS, regionOf, CITY_CENTRE } = require('../examples/rider-updates/regions')
const { tempDir, waitFor } = require('./helpers')

async function post(base, path, body, raw) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw !== undefined ? raw : JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

const around = (dLat, dLng) => ({ lat: CITY_CENTRE.lat + dLat, lng: CITY_CENTRE.lng + dLng })

/** The first `positions` event of a new /events stream: what a map page opened now draws
 * before any live update. */
async function firstMapEvent(base) {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), 10000)
  try {
    const res = await fetch(`${base}/events`, { signal: abort.signal })
    let text = ''
    for await (const chunk of res.body) {
      text += Buffer.from(chunk).toString()
      if (text.includes('\n\n')) break
    }
    const event = text.slice(0, text.indexOf('\n\n')).split('\n')
    expect(event[0]).toBe('event: positions')
    return JSON.parse(event.find((l) => l.startsWith('data: ')).slice(6))
  } finally {
    clearTimeout(timer)
    abort.abort()
  }
}

/** Every record of `topic`, read from the beginning by a consumer in a fresh group that
 * commits nothing, up to the high watermarks the topic had when it began. */
async function readFromBeginning(kafka, admin, topic) {
  const highs = await admin.fetchTopicOffsets(topic)
  const next = new Map()
  const records = []
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          records.push({ partition: batch.partition, offset: Number(m.offset), key: String(m.key), value: JSON.parse(m.value) })
          next.set(batch.partition, Number(m.offset) + 1)
        }
      },
    })
    await waitFor(() => highs.every(({ partition, high }) => (next.get(partition) || 0) >= Number(high)), { timeoutMs: 10000, what: `a reader to reach the end of ${topic}` })
  } finally {
    await consumer.disconnect()
  }
  return records
}

describe('rider-updates example', () => {
  let rider
  afterEach(async () => {
    if (rider) await rider.close()
    rider = null
  })

  test('posted updates land in their region partition and in SQLite exactly once; /stats matches', async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, quiet: true })
    const base = `http://localhost:${await rider.listen(0)}`
    const positions = { north: around(0.05, 0), south: around(-0.05, 0.01), east: around(0.01, 0.1), west: around(0, -0.1) }
    const acks = []
    for (let i = 0; i < 40; i++) {
      const region = REGIONS[i % 4]
      const r = await post(base, `/riders/rider-${i % 10}/location`, positions[region])
      expect(r.status).toBe(202)
      expect(r.body.partition).toBe(REGIONS.indexOf(region))
      expect(r.body.region).toBe(region)
      acks.push(r.body)
    }
    expect((await post(base, '/restaurants/pizza-1/status', { status: 'busy' })).status).toBe(202)
    await waitFor(() => rider.store.rowCount() === 40, { what: 'the db-writer to insert 40 rows' })
    const rows = rider.store.db.prepare('SELECT partition, offset, region FROM rider_updates ORDER BY partition, offset').all()
    expect(rows).toHaveLength(40)
    for (const row of rows) expect(row.partition).toBe(REGIONS.indexOf(row.region))
    for (const a of acks) expect(rows.some((r) => r.partition === a.partition && String(r.offset) === a.offset)).toBe(true)
    await waitFor(async () => (await rider.stats()).groups['db-writer'].lag === 0, { what: 'the db-writer to commit' })
    const stats = await (await fetch(`${base}/stats`)).json()
    expect(stats.updatesReceived).toBe(40)
    expect(stats.dbRows).toBe(40)
    expect(stats.partitions.map((p) => p.high)).toEqual([10, 10, 10, 10])
    expect(stats.groups['db-writer'].lag).toBe(0)
    expect(regionOf(positions.east)).toBe('east')
  })

  test('bad requests get 400 with a JSON error and write nothing', async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, quiet: true })
    const base = `http://localhost:${await rider.listen(0)}`
    const bad = [
      ['/riders/r1/location', undefined, '{not json'],
      ['/riders/r1/location', { lat: 'north', lng: 13 }],
      ['/riders/r1/location', { lat: 52 }],
      ['/riders/r1/location', { lat: 91, lng: 13 }],
      ['/riders/r1/location', { lat: 52, lng: -181 }],
      ['/riders/r1/location', [52, 13]],
      [`/riders/${'x'.repeat(65)}/location`, { lat: 52, lng: 13 }],
      ['/riders/bad%20id/location', { lat: 52, lng: 13 }],
      ['/restaurants/r1/status', { status: 'on fire' }],
    ]
    for (const [path, body, raw] of bad) {
      const r = await post(base, path, body, raw)
      expect(r.status).toBe(400)
      expect(typeof r.body.error).toBe('string')
    }
    const stats = await rider.stats()
    expect(stats.updatesReceived).toBe(0)
    expect(stats.partitions.every((p) => p.high === 0)).toBe(true)
  })

  test('a restart loses no acknowledged update and duplicates no row', async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, quiet: true })
    let base = `http://localhost:${await rider.listen(0)}`
    for (let i = 0; i < 30; i++) expect((await post(base, `/riders/r${i}/location`, around(0.02 * Math.sin(i), 0.03 * Math.cos(i)))).status).toBe(202)
    await rider.close()
    rider = await createRiderApp({ dataDir, quiet: true })
    base = `http://localhost:${await rider.listen(0)}`
    for (let i = 0; i < 10; i++) expect((await post(base, `/riders/r${i}/location`, around(0.01, 0.01))).status).toBe(202)
    await waitFor(() => rider.store.rowCount() === 40, { what: 'all 40 rows' })
    const [{ n }] = rider.store.db.prepare('SELECT COUNT(*) AS n FROM (SELECT DISTINCT partition, offset FROM rider_updates)').all()
    expect(n).toBe(40)
    const latest = rider.store.db.prepare('SELECT COUNT(*) AS n FROM riders').get().n
    expect(latest).toBe(30)
  })

  test("a new map page gets every rider's last position at once from compacted rider-positions, also after a restart without the database", async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, quiet: true })
    let base = `http://localhost:${await rider.listen(0)}`
    // The cleaner is to compact rider-positions within the test: a segment rolls on a send
    // 200 ms after it began (the app's minute is too long here) and 1% of dirt makes a
    // partition due. AlterConfigs sets a topic's whole config, so the policy comes again.
    const kafka = new Kafka({ clientId: 'rider-test', dataDir: path.join(dataDir, 'samsa'), logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const configEntries = [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'segment.ms', value: '200' },
      { name: 'min.cleanable.dirty.ratio', value: '0.01' },
    ]
    await admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'rider-positions', configEntries }] })

    // Rider r's kth position is in region (r + k) % 4: every update crosses into another
    // region, so another rider-updates partition, and each is at a place of its own.
    const RIDERS = 8
    const positionOf = (r, k) => {
      const [dLat, dLng] = [[0.05, 0], [-0.05, 0], [0, 0.1], [0, -0.1]][(r + k) % 4]
      const jitter = r * 1e-4 + k * 1e-6
      return around(dLat + jitter, dLng + jitter)
    }
    const last = new Map() // rider id -> its last position posted
    let round = 0
    const postRound = async () => {
      for (let r = 0; r < RIDERS; r++) {
        const p = positionOf(r, round)
        expect((await post(base, `/riders/rider-${r}/location`, p)).status).toBe(202)
        last.set(`rider-${r}`, p)
      }
      round++
    }
    // Riders ride on until the cleaner (which looks every 15 s) has compacted the topic:
    // read from the beginning, it holds fewer records than were sent, and still every
    // rider's last position.
    let records = []
    await postRound()
    await waitFor(
      async () => {
        await postRound()
        records = await readFromBeginning(kafka, admin, 'rider-positions')
        return records.length < round * RIDERS
      },
      { timeoutMs: 45000, intervalMs: 500, what: 'the cleaner to compact rider-positions' }
    )
    // Keyed by rider, whatever the region: a rider's records share one partition, so the
    // one the cleaner keeps, the last, is the rider's last position.
    const lastRecord = new Map()
    for (const rec of records) {
      const prev = lastRecord.get(rec.key)
      if (prev) expect([rec.key, rec.partition]).toEqual([rec.key, prev.partition])
      if (!prev || rec.offset > prev.offset) lastRecord.set(rec.key, rec)
    }
    expect([...lastRecord.keys()].sort()).toEqual([...last.keys()].sort())
    for (const [id, p] of last) expect([id, lastRecord.get(id).value.lat, lastRecord.get(id).value.lng]).toEqual([id, p.lat, p.lng])
    await admin.disconnect()

    // What a map page draws first: every rider where it was last, coloured by the region
    // (the rider-updates partition) it was last in.
    const expected = [...last].map(([id, p]) => [id, p.lat, p.lng, REGIONS.indexOf(regionOf(p))]).sort()
    const drawn = (event) => event.map((u) => [u.riderId, u.lat, u.lng, u.partition]).sort()
    await waitFor(async () => (await rider.stats()).groups['live-map'].lag === 0, { what: 'the live map to read the last round' })
    expect(drawn(await firstMapEvent(base))).toEqual(expected)

    // The same after a restart with the database gone: the map comes from rider-positions
    // alone, read across the gaps compaction left, before the server listens.
    await rider.close()
    rider = null
    const { dbFile } = dataPaths(dataDir)
    for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true })
    const started = Date.now()
    rider = await createRiderApp({ dataDir, quiet: true })
    // Well under the 30 s after which a starting app serves a map still loading: it got to
    // the end of rider-positions.
    expect(Date.now() - started).toBeLessThan(15000)
    base = `http://localhost:${await rider.listen(0)}`
    expect(rider.store.rowCount()).toBe(0)
    expect(drawn(await firstMapEvent(base))).toEqual(expected)
  }, 90000)

  test('direct mode inserts inside the request', async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, direct: true, quiet: true })
    const base = `http://localhost:${await rider.listen(0)}`
    expect((await post(base, '/riders/r1/location', around(0, 0))).status).toBe(202)
    expect(rider.store.rowCount()).toBe(1)
  })
})
