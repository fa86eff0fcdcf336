'use strict'

// The rider-updates example: riders post their location every second; the HTTP handler
// only appends, to topic `rider-updates` and to the compacted topic `rider-positions`;
// consumer group `db-writer` writes to SQLite in bulk, and each process's live map reads
// `rider-positions` from the beginning and pushes positions to browsers. `--direct`
// inserts into SQLite inside each request instead, for comparison. `--workers N` runs N
// processes under node:cluster (cluster.js), each one this server on the same port and
// data directory.
//
//   node examples/rider-updates/server.js [--direct] [--fsync] [--workers N]   (PORT, DATA_DIR)

const cluster = require('node:cluster')
const { randomUUID } = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const express = require('express')
const { Kafka, logLevel } = require('../..')
const { REGIONS, CITY_CENTRE, regionOf, RegionPartitioner } = require('./regions')
const { openDatabase } = require('./db')
const { ownerPid } = require('./owner')

const RIDER_TOPIC = 'rider-updates'
const RESTAURANT_TOPIC = 'restaurant-updates'
const POSITIONS_TOPIC = 'rider-positions'
const RIDER_ID = /^[A-Za-z0-9_-]{1,64}$/
const STATUSES = ['open', 'busy', 'closed']
// How long a starting process waits for its live map to read all of rider-positions before
// it serves anyway (the map then fills in as it reads).
const MAP_LOAD_TIMEOUT_MS = 30_000

class BadRequest extends Error {}

function parseLocation(body) {
  if (!body || typeof body !== 'object') throw new BadRequest('expected a JSON object { lat, lng }')
  const { lat, lng } = body
  if (typeof lat !== 'number' || !Number.isFinite(lat) || lat < -90 || lat > 90) throw new BadRequest('lat must be a number from -90 to 90')
  if (typeof lng !== 'number' || !Number.isFinite(lng) || lng < -180 || lng > 180) throw new BadRequest('lng must be a number from -180 to 180')
  return { lat, lng }
}

function checkId(id, what) {
  if (!RIDER_ID.test(id)) throw new BadRequest(`${what} id must be 1 to 64 letters, digits, '_' or '-'`)
}

/** A failure that may pass (no process owns the data directory for a moment): the client
 * should try again, as a rider app does. kafkajs ends a send whose retries ran out with
 * KafkaJSNumberOfRetriesExceeded, whose cause was retriable. */
const isTemporary = (err) => err.retriable === true || err.name === 'KafkaJSNumberOfRetriesExceeded'

/** Where a data directory keeps the samsa log and the SQLite database. */
function dataPaths(dataDir, direct = false) {
  return { samsaDir: path.join(dataDir, 'samsa'), dbFile: path.join(dataDir, direct ? 'direct.sqlite' : 'riders.sqlite') }
}

/**
 * Builds the app. Options: dataDir, direct (insert per request), fsync (samsa acks after
 * fsync), sqliteSynchronous ('FULL' | 'NORMAL' | 'OFF'), quiet, worker (its number 1..N
 * when run under node:cluster: prefixes its log lines).
 */
async function createRiderApp({ dataDir = './data', direct = false, fsync = false, sqliteSynchronous = fsync ? 'FULL' : 'OFF', quiet = false, worker } = {}) {
  fs.mkdirSync(dataDir, { recursive: true })
  const { samsaDir, dbFile } = dataPaths(dataDir, direct)
  const store = openDatabase(dbFile)
  store.setSynchronous(sqliteSynchronous)
  const prefix = worker ? `[worker ${worker} pid ${process.pid}] ` : ''
  const log = quiet ? () => {} : (line) => console.log(`${prefix}${line}`)
  const app = express()
  const stats = { updatesReceived: 0 }
  const clients = new Set() // SSE responses
  // rider id -> newest { riderId, lat, lng, region, ts, partition }, read from rider-positions
  // (partition: the rider-updates partition of the rider's region, which the map shows).
  const live = new Map()
  const positionsRead = new Map() // rider-positions partition -> the next offset the map reads
  // The live map is a table of rider-positions, rebuilt by every process when it starts:
  // a page opened at any time, even on a process that just started, gets every rider at
  // once, however long the app has run, and no database is asked. Each process reads the
  // whole topic (a browser is served by one process and must see every rider), from the
  // beginning, so its group is fresh (kafkajs has no consumer without a group) and never
  // commits: a group without offsets is gone when its member leaves, so restarts leave
  // nothing behind in the broker.
  const liveMapGroup = `live-map-${randomUUID()}`

  let kafka, admin, producer, dbWriter, liveMap, statusWriter
  if (!direct) {
    kafka = new Kafka({ clientId: 'rider-app', dataDir: path.join(dataDir, 'samsa'), fsync, logLevel: logLevel.WARN })
    admin = kafka.admin()
    await admin.connect()
    // A demo keeps hours of history, not Kafka's default 7 days.
    const retention = [{ name: 'retention.ms', value: String(3 * 3600 * 1000) }, { name: 'segment.bytes', value: String(16 * 1024 * 1024) }]
    // rider-positions keeps the latest position of every rider forever: the cleaner drops a
    // rider's older records. It only cleans sealed segments, and only once a tenth of the
    // log is dirt: a segment a minute lets it clean while the demo runs (Kafka's defaults,
    // 7 days and half, would leave it untouched).
    const compacted = [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'segment.ms', value: String(60 * 1000) },
      { name: 'min.cleanable.dirty.ratio', value: '0.1' },
    ]
    await admin.createTopics({
      topics: [
        { topic: RIDER_TOPIC, numPartitions: REGIONS.length, configEntries: retention },
        { topic: RESTAURANT_TOPIC, numPartitions: 2, configEntries: retention },
        { topic: POSITIONS_TOPIC, numPartitions: REGIONS.length, configEntries: compacted },
      ],
    })
    producer = kafka.producer({ createPartitioner: RegionPartitioner, allowAutoTopicCreation: false })
    await producer.connect()

    const startGroup = async (groupId, topic, eachBatch, runOptions = {}) => {
      const consumer = kafka.consumer({ groupId })
      if (worker) {
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          const mine = payload.memberAssignment[topic] || []
          log(`${groupId}: partitions ${mine.length ? [...mine].sort((a, b) => a - b).join(',') : 'none'}`)
        })
      }
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ eachBatch, ...runOptions })
      return consumer
    }
    const rowsOf = (batch) => batch.messages.map((m) => ({ offset: Number(m.offset), ...JSON.parse(m.value) }))

    // One SQLite transaction per batch; offsets are committed after it, once the rows are in.
    dbWriter = await startGroup('db-writer', RIDER_TOPIC, async ({ batch }) => {
      store.writeRiderBatch(batch.topic, batch.partition, rowsOf(batch))
    })
    statusWriter = await startGroup('status-writer', RESTAURANT_TOPIC, async ({ batch }) => {
      store.writeStatusBatch(batch.topic, batch.partition, rowsOf(batch))
    })
    // The high watermarks of rider-positions now: once the map has read up to them it has
    // every rider. The last record of a partition is the newest of its key, so the cleaner
    // never removes it (rider-positions has no tombstones), and reading reaches it.
    const toLoad = await admin.fetchTopicOffsets(POSITIONS_TOPIC)
    const behind = () => toLoad.some(({ partition, high }) => (positionsRead.get(partition) || 0) < Number(high))
    let loaded
    const mapLoaded = new Promise((resolve) => (loaded = resolve))
    const load = { done: false, records: 0, started: Date.now() }
    const finishLoad = () => {
      load.done = true
      loaded()
    }
    liveMap = await startGroup(
      liveMapGroup,
      POSITIONS_TOPIC,
      async ({ batch }) => {
        if (batch.messages.length === 0) return
        const changed = []
        for (const m of batch.messages) {
          const u = JSON.parse(m.value)
          u.partition = REGIONS.indexOf(u.region)
          const prev = live.get(u.riderId)
          // A rider's positions share one partition, in the order they were sent; two
          // requests of one rider in flight at once (on two workers) may land in either
          // order, so the newest by timestamp wins.
          if (!prev || u.ts >= prev.ts) {
            live.set(u.riderId, u)
            changed.push(u)
          }
        }
        positionsRead.set(batch.partition, Number(batch.messages[batch.messages.length - 1].offset) + 1)
        if (!load.done) {
          load.records += batch.messages.length
          if (!behind()) finishLoad()
        }
        if (changed.length > 0 && clients.size > 0) {
          const data = `event: positions\ndata: ${JSON.stringify(changed)}\n\n`
          for (const res of clients) res.write(data)
        }
      },
      { autoCommit: false }
    )
    // A page must not get half the riders from a process that just started: serve once
    // the map has them all (or after a bound, filling in as it reads).
    if (!behind()) finishLoad()
    let timer
    const late = new Promise((resolve) => (timer = setTimeout(resolve, MAP_LOAD_TIMEOUT_MS, 'late')))
    const outcome = await Promise.race([mapLoaded, late])
    clearTimeout(timer)
    // The count of records read against riders shows compaction at work: without it,
    // every update ever sent would be read here.
    if (outcome === 'late') log(`live map: not all of ${POSITIONS_TOPIC} read after ${MAP_LOAD_TIMEOUT_MS / 1000} s; serving as it reads`)
    else log(`live map: ${live.size} riders from ${load.records} records of ${POSITIONS_TOPIC} in ${Date.now() - load.started} ms`)
  }

  if (worker) {
    app.use((req, res, next) => {
      res.set('x-rider-worker', String(worker))
      next()
    })
  }
  app.use(express.json({ limit: '16kb' }))

  app.post('/riders/:id/location', async (req, res, next) => {
    try {
      checkId(req.params.id, 'rider')
      const { lat, lng } = parseLocation(req.body)
      const update = { riderId: req.params.id, lat, lng, region: regionOf({ lat, lng }), ts: Date.now() }
      stats.updatesReceived++
      if (direct) {
        store.insertDirect(update)
        return res.status(202).json({ stored: true })
      }
      const value = JSON.stringify(update)
      // One send for both topics, answered once both hold the update. rider-positions goes
      // without the region header, so it is partitioned by key: all of a rider's positions
      // share one partition, wherever the rider rides, and the cleaner keeps the last.
      const sent = await producer.sendBatch({
        topicMessages: [
          { topic: RIDER_TOPIC, messages: [{ key: update.riderId, value, headers: { region: update.region }, timestamp: String(update.ts) }] },
          { topic: POSITIONS_TOPIC, messages: [{ key: update.riderId, value, timestamp: String(update.ts) }] },
        ],
      })
      const r = sent.find((x) => x.topicName === RIDER_TOPIC)
      res.status(202).json({ partition: r.partition, offset: r.baseOffset, region: update.region })
    } catch (e) {
      next(e)
    }
  })

  app.post('/restaurants/:id/status', async (req, res, next) => {
    try {
      checkId(req.params.id, 'restaurant')
      const status = req.body && req.body.status
      if (!STATUSES.includes(status)) throw new BadRequest(`status must be one of ${STATUSES.join(', ')}`)
      if (direct) return res.status(202).json({ stored: false })
      const update = { restaurantId: req.params.id, status, ts: Date.now() }
      const [r] = await producer.send({ topic: RESTAURANT_TOPIC, messages: [{ key: update.restaurantId, value: JSON.stringify(update) }] })
      res.status(202).json({ partition: r.partition, offset: r.baseOffset })
    } catch (e) {
      next(e)
    }
  })

  app.get('/stats', async (req, res, next) => {
    try {
      res.json(await collectStats())
    } catch (e) {
      next(e)
    }
  })

  app.get('/events', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    res.write(`event: positions\ndata: ${JSON.stringify([...live.values()])}\n\n`)
    clients.add(res)
    req.on('close', () => clients.delete(res))
  })

  app.get('/', (req, res) => {
    res.type('html').send(fs.readFileSync(path.join(__dirname, 'map.html'), 'utf8').replace('__CENTRE__', JSON.stringify(CITY_CENTRE)))
  })

  // Malformed JSON and validation errors are 400s with a JSON body; nothing is written.
  app.use((err, req, res, next) => {
    void next
    if (err instanceof BadRequest) return res.status(400).json({ error: err.message })
    if (err.type === 'entity.parse.failed' || err.status === 400) return res.status(400).json({ error: 'body is not valid JSON' })
    if (err.type === 'entity.too.large') return res.status(413).json({ error: 'body too large' })
    if (isTemporary(err)) {
      console.error(`${prefix}answered 503 to ${req.method} ${req.path}: ${err.message}`)
      return res.status(503).set('retry-after', '1').json({ error: 'temporarily unavailable, try again' })
    }
    console.error(err)
    res.status(500).json({ error: 'internal error' })
  })

  async function collectStats() {
    // updatesReceived and the live map count this process's; everything else is the whole server's.
    const out = { mode: direct ? 'direct' : 'samsa', updatesReceived: stats.updatesReceived, dbRows: store.rowCount(), partitions: [], groups: {} }
    if (worker) out.worker = { number: worker, pid: process.pid }
    if (direct) return out
    const offsets = await admin.fetchTopicOffsets(RIDER_TOPIC)
    out.partitions = offsets.map(({ partition, high, low }) => ({ partition, region: REGIONS[partition], high: Number(high), low: Number(low) }))
    const [committed] = await admin.fetchOffsets({ groupId: 'db-writer', topics: [RIDER_TOPIC] })
    const writer = committed.partitions.map(({ partition, offset }) => {
      const high = out.partitions[partition].high
      const at = Number(offset) < 0 ? out.partitions[partition].low : Number(offset)
      return { partition, committed: Number(offset), lag: high - at }
    })
    out.groups['db-writer'] = { topic: RIDER_TOPIC, partitions: writer, lag: writer.reduce((n, p) => n + p.lag, 0) }
    // The live map commits nothing: its lag is what it has yet to read of rider-positions.
    const positions = await admin.fetchTopicOffsets(POSITIONS_TOPIC)
    const map = positions.map(({ partition, high, low }) => {
      const read = Math.max(positionsRead.get(partition) || 0, Number(low))
      return { partition, read, lag: Math.max(0, Number(high) - read) }
    })
    out.groups['live-map'] = { topic: POSITIONS_TOPIC, partitions: map, lag: map.reduce((n, p) => n + p.lag, 0) }
    return out
  }

  if (worker) {
    const owner = direct ? null : ownerPid(samsaDir)
    const role = direct ? 'inserts into SQLite per request' : `produces to ${RIDER_TOPIC} and ${POSITIONS_TOPIC}, consumes in db-writer, status-writer and ${liveMapGroup}`
    const dir = direct ? '' : owner === process.pid ? '; owns the data directory' : `; reaches the data directory through its owner, pid ${owner}`
    log(`serves HTTP, ${role}${dir}`)
  }

  let server
  return {
    app,
    store,
    stats: collectStats,
    listen(port = 3000) {
      return new Promise((resolve, reject) => {
        // Express 5 calls back with the error when the server cannot listen (a port in use).
        server = app.listen(port, (err) => {
          if (err) return reject(err)
          const { port: actual } = server.address()
          // Under node:cluster the primary says where the server listens, once all are up.
          if (!worker) log(`rider-updates ${direct ? '(direct SQLite mode) ' : ''}listening on http://localhost:${actual}`)
          resolve(actual)
        })
      })
    },
    async close() {
      for (const res of clients) res.end()
      clients.clear()
      if (server) {
        server.closeAllConnections()
        await new Promise((r) => server.close(r))
      }
      if (kafka) {
        for (const c of [dbWriter, liveMap, statusWriter, producer, admin]) await c.disconnect()
      }
      store.close()
    },
  }
}

/** The command line: --direct, --fsync, --workers N (N >= 1; absent: one process). */
function parseArgs(args) {
  const options = { direct: args.includes('--direct'), fsync: args.includes('--fsync'), workers: undefined }
  const i = args.findIndex((a) => a === '--workers' || a.startsWith('--workers='))
  if (i >= 0) {
    const text = args[i].includes('=') ? args[i].slice('--workers='.length) : args[i + 1]
    options.workers = Number(text)
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new Error(`--workers takes a whole number of at least 1, not ${text}`)
  }
  return options
}

/** One server process: the whole server, or one worker of a cluster. */
function runServer({ direct, fsync }, worker) {
  createRiderApp({ dataDir: process.env.DATA_DIR || './data', direct, fsync, worker })
    .then(async (rider) => {
      await rider.listen(Number(process.env.PORT || 3000))
      let stopping = false
      const stop = async () => {
        if (stopping) return
        stopping = true
        await rider.close()
        process.exit(0)
      }
      process.once('SIGTERM', stop)
      // Ctrl-C reaches every process of the terminal; the primary stops the workers in
      // order (cluster.js), so a worker waits for its SIGTERM. (A worker whose primary is
      // gone exits by itself: node:cluster does that.)
      if (worker) process.on('SIGINT', () => {})
      else process.once('SIGINT', stop)
    })
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}

module.exports = { createRiderApp, dataPaths }

if (require.main === module) {
  let options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (e) {
    console.error(e.message)
    process.exit(2)
  }
  if (options.workers === undefined) runServer(options)
  else if (cluster.isPrimary) require('./cluster').startPrimary({ ...options, dataDir: process.env.DATA_DIR || './data', port: Number(process.env.PORT || 3000) })
  else runServer(options, Number(process.env.RIDER_WORKER))
}
