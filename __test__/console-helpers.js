'use strict'

// What the console's tests (console.test.js, console.browser.test.js) share: a data
// directory with topics, keyed and timestamped messages, a group with lag, and an HTTP
// client that sends exactly what it is given (any path, method, Host and body).

const http = require('node:http')

const RIDERS = 10
const RIDER_MESSAGES = 40
// The rider updates' timestamps: one a second from a minute ago.
const FIRST_TIMESTAMP = Date.now() - 60_000

/**
 * Fills the directory of `kafka`: rider-updates (4 partitions, 40 JSON messages keyed
 * rider-0 to rider-9, timestamped a second apart, with a region header, retention.ms set),
 * restaurant-updates (2 partitions, one binary message), and group db-writer with offsets
 * committed at 2 on every partition of rider-updates (so it lags).
 */
async function seed(kafka) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    topics: [
      { topic: 'rider-updates', numPartitions: 4, configEntries: [{ name: 'retention.ms', value: String(3 * 3600 * 1000) }] },
      { topic: 'restaurant-updates', numPartitions: 2 },
    ],
  })
  const producer = kafka.producer()
  await producer.connect()
  const messages = Array.from({ length: RIDER_MESSAGES }, (_, i) => ({
    key: `rider-${i % RIDERS}`,
    value: JSON.stringify({ seq: i, lat: 52.5 + i / 1000, lng: 13.4 }),
    timestamp: String(FIRST_TIMESTAMP + i * 1000),
    headers: { region: i % 2 ? 'north' : 'south' },
  }))
  const sent = []
  for (const m of messages) sent.push(...(await producer.send({ topic: 'rider-updates', messages: [m] })))
  await producer.send({ topic: 'restaurant-updates', messages: [{ key: 'binary', value: Buffer.from([0, 1, 2, 0xff, 0xfe]), partition: 0 }] })
  await admin.setOffsets({ groupId: 'db-writer', topic: 'rider-updates', partitions: [0, 1, 2, 3].map((partition) => ({ partition, offset: '2' })) })
  await producer.disconnect()
  const marks = await admin.fetchTopicOffsets('rider-updates')
  await admin.disconnect()
  // Where each message went: seq -> { partition, offset }.
  const placed = sent.map((r) => ({ partition: r.partition, offset: Number(r.baseOffset) }))
  return { messages, placed, marks, firstTimestamp: FIRST_TIMESTAMP }
}

/**
 * An HTTP request to the console at `url` (its base URL), sent as given: `path` is not
 * normalised. Resolves to { status, headers, body, json }.
 */
function request(url, path, { method = 'GET', headers = {}, body } = {}) {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method, headers, timeout: 10_000 }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json = null
        try {
          json = JSON.parse(text)
        } catch {
          // Not JSON (a page, an asset).
        }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/** POSTs `value` as JSON. */
function postJson(url, path, value, headers = {}) {
  return request(url, path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) })
}

module.exports = { seed, request, postJson, RIDERS, RIDER_MESSAGES }
