'use strict'

// The rider-updates example run as a user would: the app on an ephemeral port, updates
// posted over HTTP, and SQLite checked for exactly-once rows in the right partition.

const { createRiderApp } = require('../examples/rider-updates/server')
const { REGIONS, regionOf, CITY_CENTRE } = require('../examples/rider-updates/regions')
const { tempDir, waitFor } = require('./helpers')

async function post(base, path, body, raw) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw !== undefined ? raw : JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

const around = (dLat, dLng) => ({ lat: CITY_CENTRE.lat + dLat, lng: CITY_CENTRE.lng + dLng })

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

  test("a restarted server's live map shows at once every rider the database has", async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, quiet: true })
    let base = `http://localhost:${await rider.listen(0)}`
    const riders = { 'rider-n': around(0.05, 0), 'rider-e': around(0, 0.1), 'rider-w': around(0, -0.1) }
    for (const [id, p] of Object.entries(riders)) expect((await post(base, `/riders/${id}/location`, p)).status).toBe(202)
    // Both groups done and committed: after the restart the live-map group reads nothing again.
    await waitFor(async () => {
      const { groups } = await rider.stats()
      return groups['db-writer'].lag === 0 && groups['live-map'].lag === 0
    }, { what: 'both groups to commit' })
    await rider.close()
    rider = await createRiderApp({ dataDir, quiet: true })
    base = `http://localhost:${await rider.listen(0)}`
    const abort = new AbortController()
    const res = await fetch(`${base}/events`, { signal: abort.signal })
    let text = ''
    for await (const chunk of res.body) {
      text += Buffer.from(chunk).toString()
      if (text.includes('\n\n')) break
    }
    abort.abort()
    const first = JSON.parse(text.split('\n').find((l) => l.startsWith('data: ')).slice(6))
    expect(first.map((u) => [u.riderId, u.lat, u.lng, u.partition]).sort()).toEqual(
      Object.entries(riders).map(([id, p]) => [id, p.lat, p.lng, REGIONS.indexOf(regionOf(p))]).sort()
    )
  })

  test('direct mode inserts inside the request', async () => {
    const dataDir = tempDir()
    rider = await createRiderApp({ dataDir, direct: true, quiet: true })
    const base = `http://localhost:${await rider.listen(0)}`
    expect((await post(base, '/riders/r1/location', around(0, 0))).status).toBe(202)
    expect(rider.store.rowCount()).toBe(1)
  })
})
