'use strict'

const {
  KafkaJSNonRetriableError,
  KafkaJSCreateTopicError,
  KafkaJSAggregateError,
  KafkaJSDeleteTopicRecordsError,
  KafkaJSDeleteGroupsError,
  KafkaJSNotImplemented,
  KafkaJSBrokerNotFound,
  KafkaJSProtocolError,
  fromNative,
  protocolError,
} = require('./errors')
const { createEvents } = require('./instrumentation')
const {
  checkTopicName,
  checkGroupId,
  checkInt32,
  checkListener,
  checkMillis,
  describe,
  isPartition,
  options: optionsOf,
  safeJson,
  show,
  toOffset,
} = require('./validate')
const { retryConfig, createRetry } = require('./retry')
const { describeGroupShape } = require('./group-description')
const { partitionMetadataOf } = require('./send-queue')

const ConfigResourceTypes = { UNKNOWN: 0, TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 }
const ConfigSource = {
  UNKNOWN: 0,
  TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
}

function checkConfigEntries(topic, configEntries) {
  if (configEntries == null) return
  if (!Array.isArray(configEntries)) {
    throw new KafkaJSNonRetriableError(`Invalid configEntries for topic "${topic}", must be an array`)
  }
  // Index by index: a sparse array's holes are entries too (forEach would skip them).
  for (let index = 0; index < configEntries.length; index++) {
    const entry = configEntries[index]
    if (typeof entry !== 'object' || entry == null) {
      throw new KafkaJSNonRetriableError(`Invalid configEntries for topic "${topic}". Entry ${index} must be an object`)
    }
    for (const prop of ['name', 'value']) {
      if (typeof entry[prop] !== 'string') {
        throw new KafkaJSNonRetriableError(
          `Invalid configEntries for topic "${topic}". Entry ${index} must have a valid "${prop}" property`
        )
      }
    }
  }
}

/** Broker ids: int32s in an array. */
function replicasOf(replicas, what) {
  if (!Array.isArray(replicas)) throw new KafkaJSNonRetriableError(`Invalid ${what}: must be an array of broker ids, got ${show(replicas)}`)
  for (let k = 0; k < replicas.length; k++) checkInt32(replicas[k], `${what}[${k}]`)
  return replicas
}

/** kafkajs's `replicaAssignment` ([{ partition, replicas }]); an empty one is none, as
 * kafkajs sends it. */
function replicaAssignmentOf(assignment, what) {
  if (assignment === undefined || assignment === null) return undefined
  if (!Array.isArray(assignment)) throw new KafkaJSNonRetriableError(`Invalid ${what}: must be an array, got ${show(assignment)}`)
  if (assignment.length === 0) return undefined
  return Array.from(assignment, (a, k) => {
    if (!a || typeof a !== 'object') throw new KafkaJSNonRetriableError(`Invalid ${what}[${k}]: must be { partition, replicas }`)
    checkInt32(a.partition, `${what}[${k}].partition`)
    return { partition: a.partition, replicas: replicasOf(a.replicas, `${what}[${k}].replicas`) }
  })
}

/** kafkajs's createPartitions `assignments` (a replica list per new partition); an empty
 * one is none, as kafkajs sends it (a null array). */
function replicaListsOf(assignments, what) {
  if (assignments === undefined || assignments === null) return undefined
  if (!Array.isArray(assignments)) throw new KafkaJSNonRetriableError(`Invalid ${what}: must be an array, got ${show(assignments)}`)
  if (assignments.length === 0) return undefined
  return Array.from(assignments, (r, k) => replicasOf(r, `${what}[${k}]`))
}

/** A topic argument as kafkajs checks it (`Invalid topic ...` for a missing one), then
 * Kafka's name rule (INVALID_TOPIC_EXCEPTION, not retried). */
function checkTopic(topic, quoted = false) {
  if (!topic || typeof topic !== 'string') {
    throw new KafkaJSNonRetriableError(quoted ? `Invalid topic "${show(topic)}"` : `Invalid topic ${show(topic)}`)
  }
  checkTopicName(topic)
}

const isUnknownTopic = (e) => e.type === 'UNKNOWN_TOPIC_OR_PARTITION' && e.retriable !== false

const unknownTopic = (topic) =>
  protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)

const noSuchPartition = (topic, partition, count) =>
  protocolError(
    'UNKNOWN_TOPIC_OR_PARTITION',
    `This server does not host this topic-partition: topic "${topic}" has ${count === 1 ? 'partition 0' : `partitions 0 to ${count - 1}`}, not ${describe(partition)}`,
    { retriable: false }
  )

class Admin {
  constructor(kafka, options) {
    const { retry } = optionsOf(options, 'kafka.admin()')
    this.kafka = kafka
    this.log = kafka.logger().namespace('Admin')
    this.retry = retryConfig(kafka.retry, retry)
    this.retrier = createRetry(this.retry, {
      onRetry: (error, retryCount, retryTime) => this.log.warn(`Retrying: ${error.message}`, { retryCount, retryTime }),
    })
    this.shared = null
    this.connecting = null
    const { events, on, emit } = createEvents('admin', ['CONNECT', 'DISCONNECT', 'REQUEST', 'REQUEST_TIMEOUT', 'REQUEST_QUEUE_SIZE'], this.log)
    this.events = events
    this.onEvent = on
    this.emit = emit
    // kafkajs's admin is an object of closures: its methods work destructured.
    for (const name of Object.getOwnPropertyNames(Admin.prototype)) {
      if (name !== 'constructor') this[name] = this[name].bind(this)
    }
  }

  on(eventName, listener) {
    checkListener(listener)
    return this.onEvent(eventName, listener)
  }

  logger() {
    return this.log
  }

  async connect() {
    if (this.shared) return
    if (!this.connecting) {
      this.connecting = this.kafka._acquire(this).then(
        (shared) => {
          this.shared = shared
          this.connecting = null
          this.emit(this.events.CONNECT)
          return shared
        },
        (e) => {
          this.connecting = null
          throw e
        }
      )
    }
    await this.connecting
  }

  async disconnect() {
    if (this.connecting) await this.connecting.catch(() => {})
    const shared = this.shared
    if (!shared) return
    this.shared = null
    await this.kafka._release(this, shared)
    this.emit(this.events.DISCONNECT)
  }

  /** The broker, connecting first if needed: like kafkajs, admin calls made while (or
   * without) awaiting connect() work. */
  async broker() {
    if (!this.shared || this.shared.closed) {
      this.shared = null
      await this.connect()
    }
    return this.shared
  }

  // Which errors each call retries is kafkajs's choice for that call: fetchTopicOffsets,
  // fetchTopicOffsetsByTimestamp, deleteTopics and deleteTopicRecords retry a missing
  // topic (it may be being created), describeGroups and deleteTopicRecords retry whatever
  // is retriable, and the other calls fail at once with the broker's error, as kafkajs's
  // do (their retriers retry only cluster errors that one embedded broker never has).

  /** Runs `fn(broker)` once; its errors are the call's, as they are. */
  async once(fn) {
    return fn(await this.broker())
  }

  /**
   * Runs `fn(broker)` under the admin's retry policy, retrying the errors `retryOn` picks
   * with kafkajs's backoff; when retries run out the call fails with
   * KafkaJSNumberOfRetriesExceeded whose cause is the last error. Other errors end the
   * call as they are.
   */
  withRetries(fn, retryOn = isUnknownTopic) {
    return this.retrier(async (bail) => {
      const b = await this.broker()
      try {
        return await fn(b)
      } catch (e) {
        if (e && retryOn(e)) throw e
        return bail(e)
      }
    })
  }

  async listTopics() {
    return this.once((b) => b.callAsync(() => b.native.topics()))
  }

  // kafkajs's `timeout` and `waitForLeaders` are accepted: creation here is complete, with
  // its one leader, when the call returns.
  async createTopics(options) {
    const { topics, validateOnly = false, timeout } = optionsOf(options, 'createTopics')
    if (!topics || !Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${show(topics)}`)
    // findIndex, unlike some, sees the holes of a sparse array.
    if (topics.findIndex((t) => !t || typeof t !== 'object' || typeof t.topic !== 'string') >= 0) {
      throw new KafkaJSNonRetriableError('Invalid topics array, the topic names have to be a valid string')
    }
    if (new Set(topics.map((t) => t.topic)).size < topics.length) {
      throw new KafkaJSNonRetriableError('Invalid topics array, it cannot have multiple entries for the same topic')
    }
    if (timeout !== undefined && timeout !== null) checkMillis(timeout, 'timeout')
    const specs = topics.map(({ topic, configEntries, numPartitions, replicationFactor, replicaAssignment }, i) => {
      checkConfigEntries(topic, configEntries)
      for (const [field, v] of [['numPartitions', numPartitions], ['replicationFactor', replicationFactor]]) {
        if (v !== undefined && v !== null) checkInt32(v, `topics[${i}].${field} of "${topic}"`)
      }
      return {
        name: topic,
        numPartitions: numPartitions ?? -1,
        replicationFactor: replicationFactor ?? -1,
        configNames: (configEntries || []).map((e) => e.name),
        configValues: (configEntries || []).map((e) => e.value),
        assignments: replicaAssignmentOf(replicaAssignment, `topics[${i}].replicaAssignment of "${topic}"`),
      }
    })
    return this.once(async (b) => {
      // Kafka's CreateTopics: each topic succeeds or fails on its own, in one call.
      const errors = new Array(topics.length).fill(null)
      const valid = []
      specs.forEach((spec, i) => {
        try {
          checkTopicName(spec.name)
          valid.push(i)
        } catch (e) {
          errors[i] = e
        }
      })
      try {
        if (valid.length > 0) {
          const results = await b.callAsync(() => b.native.createTopics(valid.map((i) => specs[i]), !!validateOnly))
          results.forEach((error, k) => {
            if (error !== null && error !== undefined) errors[valid[k]] = fromNative(error)
          })
        }
      } finally {
        if (!validateOnly) b.topicsChanged()
      }
      // An error that is not about one topic (the broker closed, say) is the call's.
      const general = errors.find((e) => e && !e.type)
      if (general) throw general
      // In topic name order, as kafkajs reports them.
      const failed = errors
        .flatMap((e, i) => (e ? [new KafkaJSCreateTopicError(e, specs[i].name)] : []))
        .sort((x, y) => x.topic.localeCompare(y.topic))
      if (failed.length === 0) return true
      // As kafkajs: false when the only trouble is topics that already exist.
      if (failed.every((e) => e.type === 'TOPIC_ALREADY_EXISTS')) return false
      throw new KafkaJSAggregateError('Topic creation errors', failed)
    })
  }

  async deleteTopics(options) {
    const { topics, timeout } = optionsOf(options, 'deleteTopics')
    if (!topics || !Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${show(topics)}`)
    if (topics.findIndex((t) => typeof t !== 'string') >= 0) {
      throw new KafkaJSNonRetriableError('Invalid topics array, the names must be a valid string')
    }
    if (timeout !== undefined && timeout !== null) checkMillis(timeout, 'timeout')
    for (const topic of topics) checkTopicName(topic)
    // A retry deletes only the topics not deleted yet.
    const pending = [...new Set(topics)]
    return this.withRetries(async (b) => {
      try {
        while (pending.length > 0) {
          await b.callAsync(() => b.native.deleteTopic(pending[0]))
          pending.shift()
        }
      } finally {
        b.topicsChanged()
      }
    })
  }

  async createPartitions(options) {
    const { topicPartitions, validateOnly = false, timeout } = optionsOf(options, 'createPartitions')
    if (!topicPartitions || !Array.isArray(topicPartitions)) {
      throw new KafkaJSNonRetriableError(`Invalid topic partitions array ${show(topicPartitions)}`)
    }
    if (topicPartitions.length === 0) throw new KafkaJSNonRetriableError('Empty topic partitions array')
    if (topicPartitions.findIndex((t) => !t || typeof t !== 'object' || typeof t.topic !== 'string') >= 0) {
      throw new KafkaJSNonRetriableError('Invalid topic partitions array, the topic names have to be a valid string')
    }
    if (new Set(topicPartitions.map((t) => t.topic)).size < topicPartitions.length) {
      throw new KafkaJSNonRetriableError('Invalid topic partitions array, it cannot have multiple entries for the same topic')
    }
    if (timeout !== undefined && timeout !== null) checkMillis(timeout, 'timeout')
    const assignmentsOf = topicPartitions.map(({ topic, count, assignments }, i) => {
      checkTopicName(topic)
      checkInt32(count, `topicPartitions[${i}].count of "${topic}"`)
      return replicaListsOf(assignments, `topicPartitions[${i}].assignments of "${topic}"`)
    })
    return this.once(async (b) => {
      try {
        for (const [i, { topic, count }] of topicPartitions.entries()) {
          await b.callAsync(() => b.native.createPartitions(topic, count, assignmentsOf[i], !!validateOnly))
        }
      } finally {
        b.topicsChanged()
      }
    })
  }

  async fetchTopicMetadata(options) {
    let { topics = [] } = optionsOf(options, 'fetchTopicMetadata')
    if (topics === null) topics = []
    if (!Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${show(topics)}`)
    for (const topic of topics) checkTopic(topic)
    return this.once(async (b) => {
      // kafkajs asks the broker each time: from a process that does not own the directory,
      // partitions another process added a moment ago show at once, and an owner that is
      // gone is an error rather than old metadata (the owner's own handle has nothing to load).
      if (topics.length > 0) await b.refreshTopics()
      const names = topics.length > 0 ? topics : await b.callAsync(() => b.native.topics())
      const out = []
      for (const name of names) {
        const n = await b.partitionCountFresh(name)
        if (n === null) throw unknownTopic(name)
        // A copy: the cached metadata is what partitioners see.
        out.push({ name, partitions: structuredClone(partitionMetadataOf(n)) })
      }
      return { topics: out }
    })
  }

  async fetchTopicOffsets(topic) {
    checkTopic(topic)
    return this.withRetries(async (b) =>
      // kafkajs asks ListOffsets read committed: latest is the last stable offset.
      (await b.callAsync(() => b.native.offsets(topic))).map(({ partition, low, stable }) => ({
        partition,
        offset: String(stable),
        high: String(stable),
        low: String(low),
      }))
    )
  }

  async fetchTopicOffsetsByTimestamp(topic, timestamp) {
    checkTopic(topic)
    let ts = null
    if (timestamp !== undefined && timestamp !== null) {
      ts = typeof timestamp === 'number' ? timestamp : typeof timestamp === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(timestamp) ? Number(timestamp) : NaN
      if (!Number.isFinite(ts)) throw new TypeError(`timestamp must be milliseconds since the epoch, got ${describe(timestamp)}`)
    }
    return this.withRetries(async (b) => {
      const offsets = await b.callAsync(() => b.native.offsets(topic))
      const out = []
      for (const { partition, high } of offsets) {
        // As Kafka's ListOffsets: the earliest offset whose timestamp is >= ts; when every
        // record is older, kafkajs answers with the high watermark.
        const found = ts === null ? null : await b.callAsync(() => b.native.offsetForTimestamp(topic, partition, ts))
        out.push({ partition, offset: String(found === null ? high : found) })
      }
      return out
    })
  }

  async deleteTopicRecords(options) {
    const { topic, partitions } = optionsOf(options, 'deleteTopicRecords')
    checkTopic(topic, true)
    if (!partitions || !Array.isArray(partitions) || partitions.length === 0) throw new KafkaJSNonRetriableError('Invalid partitions')
    for (let i = 0; i < partitions.length; i++) {
      const p = partitions[i]
      if (p === null || typeof p !== 'object') throw new TypeError(`partitions[${i}] must be an object like { partition, offset }, got ${describe(p)}`)
    }
    // As kafkajs: the topic's offsets first (a missing topic is retried there), then
    // partitions the topic does not have fail at once, then the deletions run under the
    // retry policy: a retry deletes only from the partitions that failed, and errors that
    // retrying cannot mend end the call as the cause of a KafkaJSNonRetriableError.
    const low = new Map((await this.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.low)]))
    const missing = []
    for (const { partition, offset } of partitions) {
      if (!low.has(partition)) {
        missing.push({
          partition,
          offset,
          error: new KafkaJSBrokerNotFound(`Could not find the leader for the partition: topic "${topic}" has ${low.size === 1 ? 'partition 0' : `partitions 0 to ${low.size - 1}`}, not ${describe(partition)}`, { retriable: false }),
        })
        continue
      }
      const target = toOffset(offset)
      if (target !== null && target !== -1 && target < low.get(partition)) {
        this.log.warn('The requested offset is before the earliest offset maintained on the partition - no records will be deleted from this partition', { topic, partition, offset: String(target) })
      }
    }
    if (missing.length > 0) throw new KafkaJSDeleteTopicRecordsError({ topic, partitions: missing })
    let pending = partitions.map(({ partition, offset }) => ({ partition, offset }))
    return this.retrier(async () => {
      const b = await this.broker()
      const failed = []
      for (const { partition, offset } of pending) {
        const target = toOffset(offset)
        if (target === null || target < -1) {
          failed.push({ partition, offset, error: protocolError('OFFSET_OUT_OF_RANGE', `offset ${show(offset)} is not a valid offset`) })
          continue
        }
        try {
          await b.callAsync(() => b.native.deleteRecords(topic, partition, target))
        } catch (e) {
          // kafkajs makes a partition's error from its code: a KafkaJSProtocolError.
          const error = e && e.type && e.name !== 'KafkaJSProtocolError' ? new KafkaJSProtocolError(e) : e
          failed.push({ partition, offset, error })
        }
      }
      pending = failed.map(({ partition, offset }) => ({ partition, offset }))
      if (failed.length > 0) throw new KafkaJSDeleteTopicRecordsError({ topic, partitions: failed })
    })
  }

  async describeCluster() {
    const b = await this.broker()
    return {
      brokers: [{ nodeId: 0, host: 'localhost', port: 0 }],
      controller: 0,
      clusterId: b.native.clusterId,
    }
  }

  async listGroups() {
    return this.once(async (b) => ({
      groups: (await b.callAsync(() => b.native.listGroups())).map((groupId) => ({ groupId, protocolType: 'consumer' })),
    }))
  }

  async describeGroups(groupIds) {
    if (!Array.isArray(groupIds)) throw new KafkaJSNonRetriableError(`Invalid groupIds array ${show(groupIds)}`)
    for (let i = 0; i < groupIds.length; i++) checkGroupId(groupIds[i], `groupIds[${i}]`)
    // kafkajs retries whatever is retriable here.
    return this.retrier(async () => {
      const b = await this.broker()
      const groups = []
      for (const g of groupIds) groups.push(describeGroupShape(await b.callAsync(() => b.native.describeGroup(g))))
      return { groups }
    })
  }

  async deleteGroups(groupIds) {
    if (!groupIds || !Array.isArray(groupIds)) throw new KafkaJSNonRetriableError(`Invalid groupIds array ${show(groupIds)}`)
    const invalid = groupIds.findIndex((g) => typeof g !== 'string' || g.length === 0)
    if (invalid >= 0) throw new KafkaJSNonRetriableError(`Invalid groupId name: ${describe(groupIds[invalid])}`)
    return this.once(async (b) => {
      const results = []
      const errors = []
      for (const groupId of new Set(groupIds)) {
        try {
          await b.callAsync(() => b.native.deleteGroup(groupId))
          results.push({ groupId, errorCode: 0 })
        } catch (error) {
          errors.push({ groupId, errorCode: error.code, error })
        }
      }
      if (errors.length > 0) throw new KafkaJSDeleteGroupsError('Error in DeleteGroups', errors)
      return results
    })
  }

  async fetchOffsets(options) {
    const { groupId, topics, resolveOffsets = false } = optionsOf(options, 'fetchOffsets')
    checkGroupId(groupId)
    if (topics != null && !Array.isArray(topics)) throw new KafkaJSNonRetriableError('Expected topics array to be set')
    for (const topic of topics || []) checkTopic(topic)
    const out = await this.once(async (b) => {
      const names = topics && topics.length > 0 ? topics : await b.callAsync(() => b.native.committedTopics(groupId))
      const found = []
      for (const topic of names) {
        const count = await b.partitionCountFresh(topic)
        if (count === null) throw unknownTopic(topic)
        const committed = new Map((await b.callAsync(() => b.native.committedOffsets(groupId, topic))).map((o) => [o.partition, o]))
        found.push({
          topic,
          partitions: Array.from({ length: count }, (_, partition) => {
            const c = committed.get(partition)
            return { partition, offset: c ? String(c.offset) : '-1', metadata: (c && c.metadata) || null }
          }),
        })
      }
      return found
    })
    if (!resolveOffsets) return out
    // As kafkajs: -1 (none, or latest) and -2 (earliest) are resolved to the partition's
    // high and low watermarks, and those offsets are committed (the group must be empty).
    const resolved = []
    for (const { topic, partitions } of out) {
      const marks = new Map((await this.fetchTopicOffsets(topic)).map((o) => [o.partition, o]))
      const recalculated = partitions.map(({ partition, offset, metadata }) => ({
        partition,
        offset: offset === '-2' ? marks.get(partition).low : offset === '-1' ? marks.get(partition).high : offset,
        metadata,
      }))
      await this.setOffsets({ groupId, topic, partitions: recalculated })
      resolved.push({ topic, partitions: recalculated })
    }
    return resolved
  }

  /** Commits offsets for a group with no running members (as Kafka requires). */
  async setOffsets(options) {
    const { groupId, topic, partitions } = optionsOf(options, 'setOffsets')
    checkGroupId(groupId)
    checkTopic(topic)
    if (!Array.isArray(partitions) || partitions.length === 0) throw new KafkaJSNonRetriableError('Invalid partitions')
    const seeks = Array.from({ length: partitions.length }, (_, i) => {
      const p = partitions[i]
      if (p === null || typeof p !== 'object') throw new TypeError(`partitions[${i}] must be an object like { partition, offset }, got ${describe(p)}`)
      const { partition, offset } = p
      if (!Number.isInteger(partition)) throw new TypeError(`partitions[${i}].partition must be an integer, got ${describe(partition)}`)
      const o = toOffset(offset)
      if (o === null || o < -2) throw new TypeError(`Invalid offset ${describe(offset)} for partition ${partition}: an offset, -1 (latest) or -2 (earliest)`)
      return { partition, offset: o }
    })
    return this.once((b) => this.commitGroupOffsets(b, groupId, topic, seeks))
  }

  async resetOffsets(options) {
    const { groupId, topic, earliest = false } = optionsOf(options, 'resetOffsets')
    checkGroupId(groupId)
    checkTopic(topic)
    return this.once(async (b) => {
      const count = await b.partitionCountFresh(topic)
      if (count === null) throw unknownTopic(topic)
      const seeks = Array.from({ length: count }, (_, partition) => ({ partition, offset: earliest ? -2 : -1 }))
      return this.commitGroupOffsets(b, groupId, topic, seeks)
    })
  }

  /**
   * Commits `seeks` ([{ partition, offset }]) for a group without running members. As
   * kafkajs's setOffsets and resetOffsets commit them, -1 (latest) and -2 (earliest) are
   * stored as they are: a consumer that finds one starts at the earliest or latest offset
   * by its subscription's fromBeginning, and fetchOffsets({ resolveOffsets: true }) turns
   * them into offsets.
   */
  async commitGroupOffsets(b, groupId, topic, seeks) {
    const count = await b.partitionCountFresh(topic)
    if (count === null) throw unknownTopic(topic)
    const offsets = seeks.map(({ partition, offset }) => {
      if (!isPartition(partition) || partition >= count) throw noSuchPartition(topic, partition, count)
      return { topic, partition, offset }
    })
    const { state } = await b.callAsync(() => b.native.describeGroup(groupId))
    if (state !== 'Empty' && state !== 'Dead') {
      throw new KafkaJSNonRetriableError(`The consumer group must have no running instances, current state: ${state}`)
    }
    await b.callAsync(() => b.native.setGroupOffsets(groupId, offsets))
  }

  async createAcls() {
    throw new KafkaJSNotImplemented('ACLs are not supported by samsa: the broker runs inside your process, with its permissions')
  }

  async describeAcls() {
    return this.createAcls()
  }

  async deleteAcls() {
    return this.createAcls()
  }

  async alterPartitionReassignments() {
    throw new KafkaJSNotImplemented('Partition reassignment does not apply to samsa: there is one broker, which leads every partition')
  }

  async listPartitionReassignments(options) {
    const { topics, timeout } = optionsOf(options, 'listPartitionReassignments')
    if (topics !== undefined && topics !== null && !Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${show(topics)}`)
    if (timeout !== undefined && timeout !== null) checkMillis(timeout, 'timeout')
    return { topics: [] }
  }

  checkResources(resources, { entries }) {
    if (!resources || !Array.isArray(resources)) throw new KafkaJSNonRetriableError(`Invalid resources array ${show(resources)}`)
    if (resources.length === 0) throw new KafkaJSNonRetriableError('Resources array cannot be empty')
    const types = Object.values(ConfigResourceTypes)
    const invalidType = resources.findIndex((r) => !r || typeof r !== 'object' || !types.includes(r.type))
    if (invalidType >= 0) {
      const r = resources[invalidType]
      throw new KafkaJSNonRetriableError(`Invalid resource type ${show(r && r.type)}: ${safeJson(r)}`)
    }
    const invalidName = resources.find((r) => !r.name || typeof r.name !== 'string')
    if (invalidName) throw new KafkaJSNonRetriableError(`Invalid resource name ${show(invalidName.name)}: ${safeJson(invalidName)}`)
    if (entries) {
      const bad = resources.find((r) => !Array.isArray(r.configEntries))
      if (bad) throw new KafkaJSNonRetriableError(`Invalid resource configEntries ${show(bad.configEntries)}: ${safeJson(bad)}`)
      const badValue = resources.find((r) => r.configEntries.findIndex((e) => !e || typeof e.name !== 'string' || typeof e.value !== 'string') >= 0)
      if (badValue) throw new KafkaJSNonRetriableError(`Invalid resource config value: ${safeJson(badValue)}`)
    } else {
      const bad = resources.find((r) => r.configNames != null && !Array.isArray(r.configNames))
      if (bad) throw new KafkaJSNonRetriableError(`Invalid resource configNames ${show(bad.configNames)}: ${safeJson(bad)}`)
      resources.forEach((r, i) => {
        const names = r.configNames || []
        const k = names.findIndex((n) => typeof n !== 'string')
        if (k >= 0) throw new TypeError(`resources[${i}].configNames[${k}] must be a string, got ${describe(names[k])}`)
      })
    }
    for (const r of resources) if (r.type === ConfigResourceTypes.TOPIC) checkTopicName(r.name, 'resource name')
  }

  // Topics (ConfigResourceTypes.TOPIC) and the broker (BROKER, name "0"), as the wire's
  // DescribeConfigs gives them: every topic config Kafka defines, samsa's broker settings.
  async describeConfigs(options) {
    const { resources, includeSynonyms = false } = optionsOf(options, 'describeConfigs')
    this.checkResources(resources, { entries: false })
    return this.once(async (b) => {
      const described = []
      for (const { type, name, configNames } of resources) {
        const names = configNames && configNames.length > 0 ? configNames : undefined
        const entries = await b.callAsync(() => b.native.describeConfigs(type, name, names, !!includeSynonyms))
        described.push({
          // Kafka's message on success is "", as kafkajs then reports it.
          errorCode: 0,
          errorMessage: '',
          resourceType: type,
          resourceName: name,
          configEntries: entries.map((e) => ({
            configName: e.name,
            configValue: e.value ?? null,
            readOnly: e.readOnly,
            isDefault: e.source === ConfigSource.DEFAULT_CONFIG,
            configSource: e.source,
            isSensitive: e.isSensitive,
            configSynonyms: e.synonyms.map((s) => ({ configName: s.name, configValue: s.value ?? null, configSource: s.source })),
          })),
        })
      }
      return { resources: described }
    })
  }

  // Topic configs, and the broker's dynamic configs ("0" for this broker), which samsa
  // keeps and describes but does not act on (docs/configs.md).
  async alterConfigs(options) {
    const { resources, validateOnly = false } = optionsOf(options, 'alterConfigs')
    this.checkResources(resources, { entries: true })
    return this.once(async (b) => {
      for (const { type, name, configEntries } of resources) {
        await b.callAsync(() =>
          b.native.alterConfigs(type, name, configEntries.map((e) => e.name), configEntries.map((e) => e.value), !!validateOnly)
        )
      }
      return {
        resources: resources.map(({ type, name }) => ({ errorCode: 0, errorMessage: null, resourceType: type, resourceName: name })),
      }
    })
  }
}

module.exports = { Admin, ConfigResourceTypes, ConfigSource }
