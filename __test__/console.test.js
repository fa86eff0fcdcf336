'use strict'

// The console's JSON API (the pages themselves are in console.browser.test.js): what the
// overview, a topic, the message browser and a group report for a known directory; the
// writes, refused while read-only; a directory owned by another process; live samples;
// and bad input in every parameter, which gets a 400 and never a crash.

const fs = require('node:fs')
const path = require('node:path')
const fc = require('fast-check')
const { Kafka, logLevel } = require('..')
const { tempDir, waitFor } = require('./helpers')
const { spawnNode, until } = require('./wire-helpers')
const { seed, request, postJson, RIDER_MESSAGES } = require('./console-helpers')
const { Sampler } = require('../lib/console/sampler')

const ROOT = path.resolve(__dirname, '..')
const made = []
afterEach(async () => {
  await Promise.all(made.splice(0).map((kafka) => kafka.close().catch(() => {})))
})

function kafkaOn(dataDir, options = {}) {
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, ...options })
  made.push(kafka)
  return kafka
}

/** A seeded directory and its console. */
async function seeded(consoleOptions = {}) {
  const dataDir = tempDir('samsa-console-')
  const kafka = kafkaOn(dataDir)
  const data = await seed(kafka)
  const c = await kafka.console({ port: 0, ...consoleOptions })
  const get = async (p) => {
    const r = await request(c.url, p)
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.body}`)
    return r.json
  }
  return { dataDir, kafka, console: c, get, ...data }
}

/** Reads server-sent events from `url` until `enough(events)`; resolves with them. */
async function readEvents(url, enough, { timeoutMs = 15000 } = {}) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const events = []
  try {
    const res = await fetch(`${url}api/events`, { signal: controller.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk, { stream: true })
      let end
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        const name = /^event: (.*)$/m.exec(block)
        const data = /^data: (.*)$/m.exec(block)
        if (name) events.push({ event: name[1], data: data ? JSON.parse(data[1]) : null })
      }
      if (enough(events)) return events
    }
    throw new Error('the event stream ended')
  } catch (e) {
    if (controller.signal.aborted) throw new Error(`timed out after ${timeoutMs} ms with ${events.length} events`)
    throw e
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}

describe('the console API', () => {
  test('the overview: every topic with partitions, messages and bytes on disk; every group with state and lag; the broker', async () => {
    const { get, dataDir, marks } = await seeded()
    const o = await get('/api/overview')
    expect(o.topics.map((t) => t.name)).toEqual(['restaurant-updates', 'rider-updates'])
    const riders = o.topics.find((t) => t.name === 'rider-updates')
    expect(riders).toMatchObject({ partitions: 4, messages: RIDER_MESSAGES, high: RIDER_MESSAGES })
    // Bytes are the segment files' sizes, as the directory holds them.
    let onDisk = 0
    for (let p = 0; p < 4; p++) {
      const dir = path.join(dataDir, 'topics', 'rider-updates', String(p))
      for (const f of fs.readdirSync(dir)) onDisk += fs.statSync(path.join(dir, f)).size
    }
    expect(riders.bytes).toBe(onDisk)
    expect(riders.segments).toBe(4)
    expect(Array.isArray(riders.spark)).toBe(true)
    const lag = marks.reduce((n, m) => n + Number(m.high) - 2, 0)
    expect(o.groups).toEqual([{ groupId: 'db-writer', state: 'Empty', members: 0, topics: ['rider-updates'], lag }])
    expect(o.broker).toMatchObject({
      dataDir: fs.realpathSync(dataDir),
      reachedThroughOwner: false,
      owner: { pid: process.pid, thisProcess: true },
      settings: { fsync: false },
      listeners: { socket: expect.stringContaining('samsa.sock'), kafka: [] },
      console: { allowWrites: false, pid: process.pid },
    })
    expect(o.broker.owner.uptimeMs).toBeGreaterThanOrEqual(0)
    expect(o.broker.disk.free).toBeGreaterThan(0)
    expect(o.broker.disk.total).toBeGreaterThanOrEqual(o.broker.disk.free)
  })

  test('a listener of the same Kafka object shows among the broker listeners', async () => {
    const { kafka, get } = await seeded()
    const { port } = await kafka.listen({ port: 0 })
    const o = await get('/api/overview')
    expect(o.broker.listeners.kafka).toEqual([{ host: '127.0.0.1', port }])
    expect(o.broker.listeners.ownerPorts).toEqual(expect.arrayContaining([{ host: '127.0.0.1', port }]))
  })

  test('a topic: partitions with watermarks, size, segments and last append; configs; the groups reading it', async () => {
    const { get, marks } = await seeded()
    const before = Date.now()
    const t = await get('/api/topics/rider-updates')
    expect(t.partitions.map((p) => [p.partition, p.low, p.high])).toEqual(marks.map((m) => [m.partition, 0, Number(m.high)]))
    for (const p of t.partitions) {
      expect(p.segments).toBe(1)
      expect(p.bytes).toBeGreaterThan(0)
      expect(p.lastAppend).toBeLessThanOrEqual(before)
      expect(p.lastAppend).toBeGreaterThan(before - 60_000)
    }
    expect(t.configs.find((c) => c.name === 'retention.ms')).toEqual({ name: 'retention.ms', value: String(3 * 3600 * 1000), isDefault: false, readOnly: false })
    expect(t.configs.find((c) => c.name === 'cleanup.policy')).toMatchObject({ value: 'delete', isDefault: true })
    expect(t.groups).toEqual([{ groupId: 'db-writer', state: 'Empty', lag: RIDER_MESSAGES - 8 }])
    expect(t.allowWrites).toBe(false)
  })

  test('the message browser: the newest of a partition, from an offset, by key and by timestamp, as text, JSON or hex, with headers', async () => {
    const { get, messages, placed, firstTimestamp } = await seeded()
    const p0 = placed.filter((x) => x.partition === 0)
    // The newest of partition 0, newest first.
    const newest = await get('/api/topics/rider-updates/messages?partition=0&limit=3')
    expect(newest.messages.map((m) => Number(m.offset))).toEqual(p0.slice(-3).map((x) => x.offset).reverse())
    const last = newest.messages[0]
    const seq = placed.findIndex((x) => x.partition === 0 && x.offset === Number(last.offset))
    expect(last).toMatchObject({
      partition: 0,
      timestamp: Number(messages[seq].timestamp),
      key: { format: 'text', text: messages[seq].key },
      value: { format: 'json', text: JSON.stringify(JSON.parse(messages[seq].value), null, 2) },
      headers: [{ name: 'region', value: { format: 'text', text: messages[seq].headers.region } }],
    })
    // From an offset, in offset order.
    const from = await get('/api/topics/rider-updates/messages?partition=0&offset=1&limit=2')
    expect(from.messages.map((m) => m.offset)).toEqual(['1', '2'])
    // By key, over every partition: all of one rider's messages, newest first.
    const byKey = await get('/api/topics/rider-updates/messages?key=rider-7&limit=500')
    const expected = messages.map((m, i) => [m, i]).filter(([m]) => m.key === 'rider-7').map(([, i]) => placed[i])
    expect(byKey.messages.map((m) => [m.partition, Number(m.offset)])).toEqual(expected.reverse().map((x) => [x.partition, x.offset]))
    expect(byKey.partitions.every((p) => p.complete)).toBe(true)
    // From a time: the first message at or after it, then on in time order.
    const ts = firstTimestamp + 30_500
    const byTime = await get(`/api/topics/rider-updates/messages?timestamp=${ts}&limit=3`)
    expect(byTime.messages.map((m) => JSON.parse(m.value.text).seq)).toEqual([31, 32, 33])
    const iso = await get(`/api/topics/rider-updates/messages?timestamp=${encodeURIComponent(new Date(ts).toISOString())}&limit=1`)
    expect(JSON.parse(iso.messages[0].value.text).seq).toBe(31)
    // Formats: the same value as text and as hex; a binary value as hex whatever was asked.
    const text = await get('/api/topics/rider-updates/messages?partition=0&offset=0&limit=1&format=text')
    expect(text.messages[0].value.format).toBe('text')
    const hex = await get('/api/topics/rider-updates/messages?partition=0&offset=0&limit=1&format=hex')
    expect(hex.messages[0].value.text).toMatch(/^00000000  7b 22 73 65 71 22/)
    const binary = await get('/api/topics/restaurant-updates/messages?format=json')
    expect(binary.messages[0].value).toEqual({ format: 'hex', text: `00000000  00 01 02 ff fe${' '.repeat(33)}  .....`, bytes: 5, truncated: false })
    // Nothing at or after a future time.
    const future = await get(`/api/topics/rider-updates/messages?timestamp=${Date.now() + 3_600_000}`)
    expect(future.messages).toEqual([])
  })

  test('a group: members with their process and assignment, lag and committed offsets per partition', async () => {
    const { kafka, get } = await seeded()
    const consumer = kafka.consumer({ groupId: 'live-map' })
    await consumer.connect()
    await consumer.subscribe({ topic: 'rider-updates', fromBeginning: true })
    let handled = 0
    await consumer.run({ eachMessage: async () => void handled++ })
    await waitFor(() => handled === RIDER_MESSAGES, { what: 'the consumer to read the topic' })
    await consumer.commitOffsets([0, 1, 2, 3].map((partition) => ({ topic: 'rider-updates', partition, offset: '1' })))
    const g = await get('/api/groups/live-map')
    expect(g.state).toBe('Stable')
    expect(g.members).toHaveLength(1)
    expect(g.members[0]).toMatchObject({ clientId: 'samsa', process: { pid: process.pid, thisProcess: true, owner: true } })
    expect(g.members[0].assigned.map((a) => a.partition).sort()).toEqual([0, 1, 2, 3])
    expect(g.resettable).toBe(false)
    const o = g.offsets[0]
    expect(o.topic).toBe('rider-updates')
    for (const p of o.partitions) expect(p).toMatchObject({ committed: 1, lag: p.high - 1, member: g.members[0].memberId })
    expect(g.lag).toBe(RIDER_MESSAGES - 4)
    await consumer.disconnect()
  })

  test('unknown topics and groups are 404s; pages and assets are served', async () => {
    const { console: c } = await seeded()
    // A '..' segment is resolved as URLs are: it names no topic, and reaches no file.
    for (const p of ['/api/topics/nope', '/api/topics/nope/messages', '/api/groups/nope', '/nothing', '/assets/nope.js', '/api/topics/..', '/assets/../../package.json']) {
      const r = await request(c.url, p)
      expect([p, r.status]).toEqual([p, 404])
    }
    for (const [p, type] of [['/', 'text/html'], ['/topics/rider-updates', 'text/html'], ['/groups/db-writer', 'text/html'], ['/assets/vendor/uPlot.iife.min.js', 'text/javascript'], ['/assets/vendor/uPlot.min.css', 'text/css']]) {
      const r = await request(c.url, p)
      expect([p, r.status, r.headers['content-type'].split(';')[0]]).toEqual([p, 200, type])
      expect(r.headers['content-security-policy']).toContain("script-src 'self'")
    }
  })

  test('writes are refused while read-only, with a message that says how to enable them', async () => {
    const { console: c, get } = await seeded()
    for (const [p, body] of [
      ['/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'earliest' }],
      ['/api/topics/rider-updates/messages', { value: 'x' }],
      ['/api/topics/rider-updates/delete-records', { partition: 0, offset: 1 }],
    ]) {
      const r = await postJson(c.url, p, body)
      expect([p, r.status]).toEqual([p, 403])
      expect(r.json.error).toMatch(/read-only.*allowWrites: true.*--allow-writes/)
    }
    // Nothing moved.
    expect((await get('/api/groups/db-writer')).offsets[0].partitions.map((p) => p.committed)).toEqual([2, 2, 2, 2])
  })

  test('with writes enabled: a test message, a reset of offsets (refused while the group runs) and deleted records', async () => {
    const { kafka, console: c, get, marks } = await seeded({ allowWrites: true })
    const produced = await postJson(c.url, '/api/topics/rider-updates/messages', { partition: 2, key: 'test', value: 'hello', headers: { from: 'console' } })
    expect(produced.status).toBe(200)
    expect(produced.json).toEqual({ topic: 'rider-updates', partition: 2, offset: marks[2].high })
    const shown = await get(`/api/topics/rider-updates/messages?partition=2&offset=${marks[2].high}`)
    expect(shown.messages[0]).toMatchObject({ key: { text: 'test' }, value: { format: 'text', text: 'hello' }, headers: [{ name: 'from', value: { text: 'console' } }] })

    // A running member: Kafka's rule refuses the reset.
    const consumer = kafka.consumer({ groupId: 'db-writer' })
    await consumer.connect()
    await consumer.subscribe({ topic: 'rider-updates' })
    await consumer.run({ eachMessage: async () => {} })
    await waitFor(async () => (await get('/api/groups/db-writer')).members.length === 1, { what: 'the member to join' })
    const refused = await postJson(c.url, '/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'earliest' })
    expect(refused.status).toBe(409)
    expect(refused.json.error).toMatch(/can be reset only while the group is empty/)
    await consumer.disconnect()

    const earliest = await postJson(c.url, '/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'earliest' })
    expect(earliest.status).toBe(200)
    expect(earliest.json.partitions).toEqual([0, 1, 2, 3].map((partition) => ({ partition, offset: '0' })))
    const toOffset = await postJson(c.url, '/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'offset', partition: 1, offset: 3 })
    expect(toOffset.json.partitions).toEqual([{ partition: 1, offset: '3' }])
    // An offset past the end is clamped to it, as Kafka's tool does.
    const clamped = await postJson(c.url, '/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'offset', partition: 0, offset: 1e9 })
    expect(clamped.json.partitions).toEqual([{ partition: 0, offset: marks[0].high }])
    const latest = await postJson(c.url, '/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'timestamp', timestamp: Date.now() + 3_600_000 })
    expect(latest.json.partitions.map((p) => p.offset)).toEqual([marks[0].high, marks[1].high, String(Number(marks[2].high) + 1), marks[3].high])
    const g = await get('/api/groups/db-writer')
    expect(g.lag).toBe(0)

    const deleted = await postJson(c.url, '/api/topics/rider-updates/delete-records', { partition: 3, offset: 2 })
    expect(deleted.status).toBe(200)
    expect(deleted.json).toEqual({ topic: 'rider-updates', partition: 3, lowWatermark: '2' })
    const t = await get('/api/topics/rider-updates')
    expect(t.partitions[3].low).toBe(2)
  })

  test('bad input in every query parameter, path segment and body is a 400 (or 405, 413, 415), and the console goes on', async () => {
    const { console: c, get } = await seeded({ allowWrites: true })
    const bad = [
      // The message browser's parameters, each wrong in several ways.
      '/api/topics/rider-updates/messages?partition=-1',
      '/api/topics/rider-updates/messages?partition=4',
      '/api/topics/rider-updates/messages?partition=x',
      '/api/topics/rider-updates/messages?partition=1.5',
      '/api/topics/rider-updates/messages?partition=99999999999999999',
      '/api/topics/rider-updates/messages?partition=',
      '/api/topics/rider-updates/messages?offset=-1&partition=0',
      '/api/topics/rider-updates/messages?offset=1e3&partition=0',
      '/api/topics/rider-updates/messages?offset=3',
      '/api/topics/rider-updates/messages?offset=1&timestamp=1&partition=0',
      '/api/topics/rider-updates/messages?timestamp=yesterday',
      '/api/topics/rider-updates/messages?timestamp=-5',
      '/api/topics/rider-updates/messages?timestamp=2026-13-45T99:00:00Z',
      '/api/topics/rider-updates/messages?timestamp=99999999999999999999',
      `/api/topics/rider-updates/messages?key=${'k'.repeat(1025)}`,
      '/api/topics/rider-updates/messages?limit=0',
      '/api/topics/rider-updates/messages?limit=501',
      '/api/topics/rider-updates/messages?limit=ten',
      '/api/topics/rider-updates/messages?format=xml',
      '/api/topics/rider-updates/messages?format=',
      '/api/topics/rider-updates/messages?limit=1&limit=2',
      '/api/topics/rider-updates/messages?partiton=1',
      // Endpoints that take no parameters.
      '/api/overview?x=1',
      '/api/topics/rider-updates?x=1',
      '/api/groups/db-writer?x=1',
      '/api/events?x=1',
      // Path segments.
      '/api/topics/bad%20name',
      '/api/topics/%E0%A4%A',
      `/api/topics/${'t'.repeat(250)}`,
      '/api/groups/%ZZ',
      `/api/groups/${'g'.repeat(1025)}`,
    ]
    for (const p of bad) {
      const r = await request(c.url, p)
      expect([p, r.status]).toEqual([p, 400])
      expect(typeof r.json.error).toBe('string')
    }
    const badBodies = [
      ['/api/groups/db-writer/reset', 'not json', 400],
      ['/api/groups/db-writer/reset', '[]', 400],
      ['/api/groups/db-writer/reset', '{}', 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'yesterday' }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'offset' }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'earliest', offset: 3 }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'offset', offset: -1 }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'earliest', partition: 9 }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'a/b', to: 'earliest' }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'earliest', extra: 1 }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'rider-updates', to: 'timestamp', timestamp: 'soon' }), 400],
      ['/api/groups/db-writer/reset', JSON.stringify({ topic: 'nope', to: 'earliest' }), 404],
      ['/api/groups/nope/reset', JSON.stringify({ topic: 'rider-updates', to: 'earliest' }), 404],
      ['/api/topics/rider-updates/messages', '{}', 400],
      ['/api/topics/rider-updates/messages', JSON.stringify({ value: 5 }), 400],
      ['/api/topics/rider-updates/messages', JSON.stringify({ value: 'x', partition: 7 }), 400],
      ['/api/topics/rider-updates/messages', JSON.stringify({ value: 'x', headers: { a: 1 } }), 400],
      ['/api/topics/rider-updates/messages', JSON.stringify({ value: 'x', headers: [] }), 400],
      ['/api/topics/rider-updates/messages', JSON.stringify({ value: 'x', key: 1 }), 400],
      ['/api/topics/rider-updates/messages', JSON.stringify({ value: 'x'.repeat(65 * 1024) }), 413],
      ['/api/topics/nope/messages', JSON.stringify({ value: 'x' }), 404],
      ['/api/topics/rider-updates/delete-records', JSON.stringify({ partition: 0 }), 400],
      ['/api/topics/rider-updates/delete-records', JSON.stringify({ partition: 0, offset: 1e9 }), 400],
      ['/api/topics/rider-updates/delete-records', JSON.stringify({ partition: 'x', offset: 1 }), 400],
    ]
    for (const [p, body, status] of badBodies) {
      const r = await request(c.url, p, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect([p, body.slice(0, 80), r.status]).toEqual([p, body.slice(0, 80), status])
      expect(typeof r.json.error).toBe('string')
    }
    // Not JSON; the wrong method; another site's page; another Host.
    expect((await request(c.url, '/api/groups/db-writer/reset', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status).toBe(415)
    expect((await request(c.url, '/api/groups/db-writer/reset', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' })).status).toBe(415)
    const wrongMethod = await request(c.url, '/api/overview', { method: 'DELETE' })
    expect([wrongMethod.status, wrongMethod.headers.allow]).toEqual([405, 'GET'])
    expect((await request(c.url, '/api/groups/db-writer/reset')).status).toBe(405)
    expect((await postJson(c.url, '/api/groups/db-writer/reset', { topic: 'rider-updates', to: 'earliest' }, { origin: 'http://evil.example' })).status).toBe(403)
    expect((await request(c.url, '/api/overview', { headers: { host: 'evil.example' } })).status).toBe(403)
    // Still serving, nothing moved.
    const g = await get('/api/groups/db-writer')
    expect(g.offsets[0].partitions.map((p) => p.committed)).toEqual([2, 2, 2, 2])
  })

  test('any value of any message browser parameter is answered with a 200 or a 400, never a failure', async () => {
    const { console: c } = await seeded()
    const names = ['partition', 'offset', 'timestamp', 'key', 'limit', 'format']
    const param = fc.tuple(fc.constantFrom(...names), fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('0', '1', '3', '500', '1e3', '-0', ' 1', '0x10', 'NaN', '%', 'hex', 'json')))
    await fc.assert(
      fc.asyncProperty(fc.array(param, { maxLength: 4 }), async (params) => {
        const qs = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')
        const r = await request(c.url, `/api/topics/rider-updates/messages?${qs}`)
        if (r.status !== 200 && r.status !== 400) throw new Error(`?${qs}: ${r.status} ${r.body}`)
        expect(r.json).not.toBeNull()
      }),
      { numRuns: 150 }
    )
  }, 60000)

  test('console() options are checked; one console per Kafka object; kafka.close() stops it', async () => {
    const dataDir = tempDir('samsa-console-')
    const kafka = kafkaOn(dataDir)
    await expect(kafka.console({ port: -1 })).rejects.toThrow(/port must be an integer from 0 to 65535/)
    await expect(kafka.console({ host: '' })).rejects.toThrow(/host must be a non-empty string/)
    await expect(kafka.console({ allowWrites: 'yes' })).rejects.toThrow(/allowWrites must be a boolean/)
    await expect(kafka.console({ prot: 1 })).rejects.toThrow(/console\(\) has no option "prot"/)
    await expect(kafka.console(5)).rejects.toThrow(TypeError)
    const c = await kafka.console({ port: 0 })
    expect(c.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    await expect(kafka.console({ port: 0 })).rejects.toThrow(`already serves a console at ${c.url}`)
    // A port in use is a clear error, and the Kafka object can try again.
    await expect(kafkaOn(dataDir).console({ port: c.port })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+/)
    expect((await request(c.url, '/api/overview')).status).toBe(200)
    await kafka.close()
    await expect(request(c.url, '/api/overview')).rejects.toThrow(/ECONNREFUSED/)
    // The directory was released: another Kafka object owns it now.
    const again = kafkaOn(dataDir)
    const c2 = await again.console({ port: 0 })
    expect((await request(c2.url, '/api/overview')).json.broker.owner.pid).toBe(process.pid)
    await c2.close()
    await expect(request(c2.url, '/api/overview')).rejects.toThrow(/ECONNREFUSED/)
  })
})

describe('live', () => {
  test('while a page follows the console it samples: events come, and a lagging group\'s lag history moves as messages flow', async () => {
    const { kafka, console: c, get } = await seeded()
    const producer = kafka.producer()
    await producer.connect()
    let sending = true
    const flow = (async () => {
      while (sending) {
        await producer.send({ topic: 'rider-updates', messages: Array.from({ length: 50 }, (_, i) => ({ key: `rider-${i}`, value: 'x' })) })
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    try {
      const events = await readEvents(c.url, (e) => e.filter((x) => x.event === 'sample').length >= 3, { timeoutMs: 15000 })
      expect(events.filter((x) => x.event === 'sample').every((x) => typeof x.data.at === 'number')).toBe(true)
    } finally {
      sending = false
      await flow
    }
    const g = await get('/api/groups/db-writer')
    const total = g.history.total.filter((v) => v !== null)
    expect(total.length).toBeGreaterThanOrEqual(3)
    expect(total[total.length - 1]).toBeGreaterThan(total[0])
    expect(g.history.times).toHaveLength(g.history.total.length)
    expect(g.history.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2, 3])
    const t = await get('/api/topics/rider-updates')
    expect(t.history.rates.some((r) => r > 0)).toBe(true)
    const o = await get('/api/overview')
    expect(o.topics.find((x) => x.name === 'rider-updates').spark.some((r) => r > 0)).toBe(true)
  }, 30000)

  test('the sampler runs only while a page follows: no timer without one', async () => {
    let looks = 0
    const state = { current: async () => ({ at: Date.now() + looks++, topics: [], groups: [] }) }
    const sampler = new Sampler(state, { intervalMs: 10 })
    expect(sampler.timer).toBeNull()
    const written = []
    const page = { write: (e) => written.push(e), end() {} }
    sampler.addClient(page)
    expect(sampler.timer).not.toBeNull()
    await waitFor(() => written.length >= 3, { what: 'three samples' })
    sampler.removeClient(page)
    expect(sampler.timer).toBeNull()
    // A sample in flight when the page left writes nothing more.
    const after = written.length
    await sampler.sample()
    expect(written.length).toBe(after)
  })
})

describe('a directory owned by another process', () => {
  test('kafka.console() in a process that reaches the directory through its owner, and `samsa console` beside it', async () => {
    const dataDir = tempDir('samsa-console-mp-')
    const owner = spawnNode([path.join(__dirname, 'fixtures', 'hold-lock.js'), dataDir])
    await until(() => owner.lines.includes('ready'), { timeoutMs: 15000, what: () => `the owner to open the directory\n${owner.output()}` })
    const kafka = kafkaOn(dataDir)
    const { placed } = await seed(kafka)
    const c = await kafka.console({ port: 0 })
    const overview = (await request(c.url, '/api/overview')).json
    expect(overview.broker).toMatchObject({ reachedThroughOwner: true, owner: { pid: owner.child.pid, thisProcess: false } })
    expect(overview.broker.owner.command).toContain('hold-lock.js')
    expect(overview.topics.find((t) => t.name === 'rider-updates')).toMatchObject({ messages: RIDER_MESSAGES, segments: 4 })
    expect(overview.groups.map((g) => g.groupId)).toEqual(['db-writer'])
    // Messages come through the owner's fetch.
    const byKey = (await request(c.url, '/api/topics/rider-updates/messages?key=rider-3')).json
    expect(byKey.messages).toHaveLength(RIDER_MESSAGES / 10)
    const p1 = placed.filter((x) => x.partition === 1)
    const newest = (await request(c.url, '/api/topics/rider-updates/messages?partition=1&limit=2')).json
    expect(newest.messages.map((m) => Number(m.offset))).toEqual(p1.slice(-2).map((x) => x.offset).reverse())

    // `samsa console` in a third process, on the same directory.
    let url = null
    const cli = spawnNode([path.join(ROOT, 'bin', 'samsa.js'), 'console', '--data-dir', dataDir, '--port', '0'], {
      onLine: (line) => {
        const m = /console on (http:\/\/\S+) \(data in .*, reached through pid (\d+), which owns it; read-only\)/.exec(line)
        if (m && Number(m[2]) === owner.child.pid) url = m[1]
      },
    })
    await until(() => url, { timeoutMs: 15000, what: () => `samsa console to start\n${cli.output()}` })
    const fromCli = (await request(url, '/api/overview')).json
    expect(fromCli.broker).toMatchObject({ reachedThroughOwner: true, owner: { pid: owner.child.pid }, console: { pid: cli.child.pid, allowWrites: false } })
    expect((await request(url, '/api/groups/db-writer')).json.lag).toBe(RIDER_MESSAGES - 8)
    expect((await request(url, '/api/topics/rider-updates/messages?partition=0&offset=0&limit=1')).json.messages).toHaveLength(1)
    expect(await cli.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    expect(cli.lines).toContain('samsa: SIGTERM: stopping')
    await owner.stop('SIGTERM')
  }, 60000)

  test('`samsa console` refuses a directory that does not exist', async () => {
    const missing = path.join(tempDir('samsa-console-none-'), 'nothing-here')
    const cli = spawnNode([path.join(ROOT, 'bin', 'samsa.js'), 'console', '--data-dir', missing, '--port', '0'])
    expect(await cli.exited).toEqual({ code: 2, signal: null })
    expect(cli.output()).toContain(`${missing} is not a samsa data directory`)
    expect(fs.existsSync(missing)).toBe(false)
  })
})
