'use strict'

// The console's JSON API: one handler per endpoint, each reading the broker through the
// state look (state.js), the admin API, the data directory's files (data-dir.js) and the
// message browser (messages.js). Handlers get checked input (params.js) and return the
// JSON to send; what goes wrong is an HttpError or an error server.js maps to a status.

const { HttpError, query, fields, check, MAX_KEY_CHARS } = require('./params')
const { browse, serialized, checkPartition, MAX_LIMIT, FORMATS } = require('./messages')
const dataDir = require('./data-dir')
const { ConfigResourceTypes } = require('../admin')

// How long the data directory's file sizes and the owning process's details are reused
// by the overview: both change slowly, and a thousand topics are a thousand directories.
const FILES_MAX_AGE_MS = 2000
const PROCESS_MAX_AGE_MS = 10_000
// Points of each topic's produce-rate sparkline on the overview (the newest).
const SPARK_POINTS = 60
const MAX_VALUE_CHARS = 64 * 1024
const INT32_MAX = 2 ** 31 - 1

const notFound = (what) => new HttpError(404, `${what} does not exist`)

/** A value reused until it is `maxAgeMs` old; concurrent askers share one computation. */
function cached(maxAgeMs, compute) {
  let value = null
  let at = 0
  let pending = null
  return async () => {
    if (value !== null && Date.now() - at < maxAgeMs) return value
    if (!pending) {
      pending = compute().then(
        (v) => {
          value = v
          at = Date.now()
          pending = null
          return v
        },
        (e) => {
          pending = null
          throw e
        }
      )
    }
    return pending
  }
}

class ConsoleApi {
  /**
   * `kafka`: the Kafka object the console serves; `shared`: its broker (lib/broker.js);
   * `admin`: an admin client of it; `state`: a BrokerState; `sampler`: a Sampler.
   */
  constructor({ kafka, shared, admin, state, sampler, allowWrites, info }) {
    this.kafka = kafka
    this.shared = shared
    this.admin = admin
    this.state = state
    this.sampler = sampler
    this.allowWrites = allowWrites
    this.info = info // { url, startedAt }
    this.producer = null
    this.oneBrowseAtATime = serialized()
    this.overviewFiles = cached(FILES_MAX_AGE_MS, async () => {
      const { topics } = await this.state.current()
      return dataDir.topicFiles(this.shared.key, topics.map((t) => ({ name: t.name, partitions: t.partitions.length })))
    })
    this.ownerDetails = cached(PROCESS_MAX_AGE_MS, async () => {
      const record = await dataDir.ownerRecord(this.shared.key)
      if (!record) return { owner: null, ports: [] }
      const [proc, ports] = await Promise.all([dataDir.processInfo(record.pid), dataDir.listeningPorts(record.pid)])
      return { owner: { ...record, ...proc }, ports }
    })
  }

  // ---- reads ----

  async overview(searchParams) {
    query(searchParams, {})
    const [s, files, broker] = await Promise.all([this.state.current(), this.overviewFiles(), this.broker()])
    const topics = s.topics.map((t) => {
      let messages = 0
      let high = 0
      for (const p of t.partitions) {
        messages += p.high - p.low
        high += p.high
      }
      const f = files.get(t.name) || []
      let bytes = 0
      let segments = 0
      for (const x of f) {
        if (!x) continue
        bytes += x.bytes
        segments += x.segments
      }
      const spark = this.sampler.produceRates(t.name).slice(-SPARK_POINTS)
      return { name: t.name, partitions: t.partitions.length, messages, high, bytes, segments, rate: spark.length ? spark[spark.length - 1] : null, spark }
    })
    const groups = s.groups.map((g) => ({
      groupId: g.groupId,
      state: g.state,
      members: g.members.length,
      topics: g.offsets.map((o) => o.topic),
      lag: g.lag,
    }))
    return { at: s.at, sampleIntervalMs: this.sampler.intervalMs, sparkPoints: SPARK_POINTS, broker, topics, groups }
  }

  /** The broker: the directory, its owner, settings, listeners, disk, this console. */
  async broker() {
    const { shared } = this
    const [{ owner, ports }, disk] = await Promise.all([this.ownerDetails(), dataDir.diskSpace(shared.key)])
    const now = Date.now()
    return {
      dataDir: shared.key,
      clusterId: shared.native.clusterId,
      reachedThroughOwner: shared.remote,
      owner: owner && {
        pid: owner.pid,
        thisProcess: owner.pid === process.pid,
        command: owner.command || null,
        uptimeMs: owner.startedAt ? now - owner.startedAt : null,
      },
      settings: shared.settings,
      listeners: {
        socket: owner ? owner.socket : null,
        // This Kafka object's listener (kafka.listen()), when it has one.
        kafka: this.kafka.listener && this.kafka.listener.address ? [this.kafka.listener.address] : [],
        ownerPorts: ports,
      },
      disk,
      console: { url: this.info.url, pid: process.pid, allowWrites: this.allowWrites, uptimeMs: now - this.info.startedAt },
    }
  }

  /** What `pick` finds in the broker's state: looked for again in a new look when the
   * last one (up to a second old) has not got it, as it was made a moment ago. */
  async fresh(pick, what) {
    let found = pick(await this.state.current())
    if (!found) {
      this.state.invalidate()
      found = pick(await this.state.current())
    }
    if (!found) throw notFound(what)
    return found
  }

  topicOf(name) {
    return this.fresh((s) => s.topicsByName.get(name), `topic ${JSON.stringify(name)}`)
  }

  async topic(name, searchParams) {
    query(searchParams, {})
    const t = await this.topicOf(name)
    const s = await this.state.current()
    const [files, configs] = await Promise.all([
      dataDir.topicFiles(this.shared.key, [{ name, partitions: t.partitions.length }]).then((byTopic) => byTopic.get(name)),
      this.admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name }] }),
    ])
    const groups = []
    for (const g of s.groups) {
      const o = g.offsets.find((x) => x.topic === name)
      if (o) groups.push({ groupId: g.groupId, state: g.state, lag: o.lag })
    }
    return {
      name,
      at: s.at,
      partitions: t.partitions.map((p, i) => ({ ...p, messages: p.high - p.low, ...files[i] })),
      configs: configs.resources[0].configEntries.map((e) => ({
        name: e.configName,
        value: e.isSensitive ? null : e.configValue,
        isDefault: e.isDefault,
        readOnly: e.readOnly,
      })),
      groups,
      history: { times: this.sampler.sampleTimes(), rates: this.sampler.produceRates(name) },
      allowWrites: this.allowWrites,
    }
  }

  async messages(name, searchParams) {
    const q = query(searchParams, {
      partition: check.integer({ max: INT32_MAX }),
      offset: check.integer(),
      timestamp: check.timestamp(),
      key: check.text({ maxLength: MAX_KEY_CHARS }),
      limit: check.integer({ min: 1, max: MAX_LIMIT }),
      format: check.oneOf(FORMATS),
    })
    if (q.offset !== undefined && q.timestamp !== undefined) throw new HttpError(400, 'give offset or timestamp, not both')
    if (q.offset !== undefined && q.partition === undefined) throw new HttpError(400, 'offset needs a partition: offsets are per partition')
    // Watermarks now, not the last look's: a message produced a moment ago is found.
    const marks = await this.watermarks(name)
    checkPartition(marks, q.partition)
    let from = 'newest'
    let offsetsAt = null
    if (q.offset !== undefined) from = { offset: q.offset }
    if (q.timestamp !== undefined) {
      from = { timestamp: q.timestamp }
      const chosen = q.partition === undefined ? marks : [marks[q.partition]]
      offsetsAt = new Map()
      for (const { partition } of chosen) {
        const found = await this.shared.callAsync(() => this.shared.native.offsetForTimestamp(name, partition, q.timestamp))
        offsetsAt.set(partition, found === null ? marks[partition].high : found)
      }
    }
    const result = await this.oneBrowseAtATime(() =>
      browse(this.shared, { topic: name, marks, partition: q.partition, from, key: q.key, limit: q.limit || 50, format: q.format || 'json', offsetsAt })
    )
    return { topic: name, ...result }
  }

  async watermarks(name) {
    let m
    try {
      m = await this.shared.callAsync(() => this.shared.native.watermarks(name))
    } catch (e) {
      if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION') throw notFound(`topic ${JSON.stringify(name)}`)
      throw e
    }
    const out = []
    for (let p = 0; p < m.length / 3; p++) out.push({ partition: p, low: m[3 * p], high: m[3 * p + 1] })
    return out
  }

  async group(groupId, searchParams) {
    query(searchParams, {})
    const g = await this.fresh((s) => s.groupsById.get(groupId), `group ${JSON.stringify(groupId)}`)
    // Members of this process's consumers are known by their member ids.
    const here = new Set()
    for (const c of this.shared.consumersByGroup.get(groupId) || []) if (c.group && c.group.memberId) here.add(c.group.memberId)
    const { owner } = await this.ownerDetails()
    return {
      ...g,
      members: g.members.map((m) => ({
        ...m,
        process: here.has(m.memberId) ? { pid: process.pid, thisProcess: true, owner: !this.shared.remote } : null,
      })),
      ownerPid: owner ? owner.pid : null,
      resettable: g.state === 'Empty' || g.state === 'Dead',
      history: { times: this.sampler.sampleTimes(), ...this.sampler.lagHistory(groupId) },
      allowWrites: this.allowWrites,
    }
  }

  // ---- writes (allowWrites only: server.js refuses them otherwise) ----

  /** Produces one message (a test message from the page). */
  async produce(name, body) {
    const m = fields(body, {
      partition: check.integer({ max: INT32_MAX }),
      key: check.text({ maxLength: MAX_KEY_CHARS, nullable: true }),
      value: check.text({ maxLength: MAX_VALUE_CHARS, nullable: true }),
      headers: check.headers(),
    })
    if (!Object.hasOwn(m, 'value')) throw new HttpError(400, 'value is required (a string, or null for a tombstone)')
    const marks = await this.watermarks(name)
    checkPartition(marks, m.partition)
    if (!this.producer) {
      // A topic the page names exists: the console never creates one by producing.
      this.producer = this.kafka.producer({ allowAutoTopicCreation: false })
    }
    await this.producer.connect()
    const [r] = await this.producer.send({ topic: name, messages: [m] })
    this.state.invalidate()
    return { topic: name, partition: r.partition, offset: r.baseOffset }
  }

  /** Deletes a partition's records before an offset (Kafka's DeleteRecords). */
  async deleteRecords(name, body) {
    const { partition, offset } = fields(body, {
      partition: check.integer({ max: INT32_MAX }),
      offset: check.integer(),
    })
    if (partition === undefined || offset === undefined) throw new HttpError(400, 'partition and offset are required')
    const marks = await this.watermarks(name)
    checkPartition(marks, partition)
    const { high } = marks[partition]
    if (offset > high) throw new HttpError(400, `offset ${offset} is past the partition's high watermark ${high}`)
    try {
      await this.admin.deleteTopicRecords({ topic: name, partitions: [{ partition, offset: String(offset) }] })
    } catch (e) {
      // The topic's policy refuses it (a compacted topic), say: the partition's error says why.
      const cause = e.partitions && e.partitions[0] && e.partitions[0].error
      if (cause && !cause.retriable) throw new HttpError(409, cause.message)
      throw e
    }
    this.state.invalidate()
    return { topic: name, partition, lowWatermark: String((await this.watermarks(name))[partition].low) }
  }

  /** Moves a group's committed offsets for a topic, as kafka-consumer-groups --reset-offsets does. */
  async resetOffsets(groupId, body) {
    const r = fields(body, {
      topic: check.topic(),
      to: check.oneOf(['earliest', 'latest', 'offset', 'timestamp']),
      partition: check.integer({ max: INT32_MAX }),
      offset: check.integer(),
      timestamp: check.timestamp(),
    })
    if (r.topic === undefined || r.to === undefined) throw new HttpError(400, 'topic and to (earliest, latest, offset or timestamp) are required')
    if ((r.to === 'offset') !== (r.offset !== undefined)) throw new HttpError(400, 'offset is given with to: "offset", and only then')
    if ((r.to === 'timestamp') !== (r.timestamp !== undefined)) throw new HttpError(400, 'timestamp is given with to: "timestamp", and only then')
    const known = (await this.shared.callAsync(() => this.shared.native.listGroups())).includes(groupId)
    if (!known) throw notFound(`group ${JSON.stringify(groupId)}`)
    const group = await this.shared.callAsync(() => this.shared.native.describeGroup(groupId))
    // Kafka's rule: offsets move only while no consumer of the group runs.
    if (group.state !== 'Empty' && group.state !== 'Dead') {
      throw new HttpError(409, `group ${JSON.stringify(groupId)} is ${group.state} with ${group.members.length} member(s): offsets can be reset only while the group is empty; stop its consumers first`)
    }
    const marks = await this.watermarks(r.topic)
    checkPartition(marks, r.partition)
    const chosen = r.partition === undefined ? marks : [marks[r.partition]]
    const partitions = []
    for (const { partition, low, high } of chosen) {
      let offset
      if (r.to === 'earliest') offset = low
      else if (r.to === 'latest') offset = high
      else if (r.to === 'offset') offset = Math.min(Math.max(r.offset, low), high) // as Kafka's tool clamps it
      else {
        const found = await this.shared.callAsync(() => this.shared.native.offsetForTimestamp(r.topic, partition, r.timestamp))
        offset = found === null ? high : found
      }
      partitions.push({ partition, offset: String(offset) })
    }
    try {
      await this.admin.setOffsets({ groupId, topic: r.topic, partitions })
    } catch (e) {
      // A consumer joined since the look above.
      if (e.name === 'KafkaJSNonRetriableError') throw new HttpError(409, e.message)
      throw e
    }
    this.state.invalidate()
    return { groupId, topic: r.topic, partitions }
  }

  async close() {
    if (this.producer) await this.producer.disconnect()
  }
}

module.exports = { ConsoleApi }
