'use strict'

const {
  KafkaJSNonRetriableError,
  KafkaJSCreateTopicError,
  KafkaJSAggregateError,
  KafkaJSDeleteTopicRecordsError,
  KafkaJSDeleteGroupsError,
  KafkaJSNotImplemented,
  protocolError,
} = require('./errors')
const { createEvents } = require('./instrumentation')
const { checkTopicName, describe } = require('./validate')
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
  configEntries.forEach((entry, index) => {
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
  })
}

class Admin {
  constructor(kafka) {
    this.kafka = kafka
    this.log = kafka.logger().namespace('Admin')
    this.shared = null
    this.connecting = null
    const { events, on, emit } = createEvents('admin', ['CONNECT', 'DISCONNECT', 'REQUEST', 'REQUEST_TIMEOUT', 'REQUEST_QUEUE_SIZE'], this.log)
    this.events = events
    this.on = on
    this.emit = emit
    // kafkajs's admin is an object of closures: its methods work destructured.
    for (const name of Object.getOwnPropertyNames(Admin.prototype)) {
      if (name !== 'constructor') this[name] = this[name].bind(this)
    }
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

  async listTopics() {
    const b = await this.broker()
    return b.call(() => b.native.topics())
  }

  // kafkajs's `timeout` and `waitForLeaders` are accepted: creation here is complete, with
  // its one leader, when the call returns.
  async createTopics({ topics, validateOnly = false } = {}) {
    if (!topics || !Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${topics}`)
    if (topics.some((t) => !t || typeof t.topic !== 'string')) {
      throw new KafkaJSNonRetriableError('Invalid topics array, the topic names have to be a valid string')
    }
    if (new Set(topics.map((t) => t.topic)).size < topics.length) {
      throw new KafkaJSNonRetriableError('Invalid topics array, it cannot have multiple entries for the same topic')
    }
    for (const { topic, configEntries, numPartitions, replicationFactor } of topics) {
      checkConfigEntries(topic, configEntries)
      for (const [field, v] of [['numPartitions', numPartitions], ['replicationFactor', replicationFactor]]) {
        if (v !== undefined && v !== null && !Number.isInteger(v)) {
          throw new TypeError(`topics[].${field} of "${topic}" must be an integer, got ${describe(v)}`)
        }
      }
    }
    const b = await this.broker()
    const errors = []
    let existed = false
    for (const { topic, numPartitions, replicationFactor, configEntries = [] } of topics) {
      try {
        checkTopicName(topic)
        await b.callAsync(() =>
          b.native.createTopic(
            topic,
            numPartitions ?? -1,
            replicationFactor ?? -1,
            configEntries.map((e) => e.name),
            configEntries.map((e) => e.value),
            !!validateOnly
          )
        )
      } catch (e) {
        if (e.type === 'TOPIC_ALREADY_EXISTS') existed = true
        else if (e.type) errors.push(new KafkaJSCreateTopicError(e, topic))
        else throw e
      }
    }
    b.topicsChanged()
    if (errors.length === 1) throw errors[0]
    if (errors.length > 1) throw new KafkaJSAggregateError('Topic creation errors', errors)
    return !existed
  }

  async deleteTopics({ topics } = {}) {
    if (!topics || !Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${topics}`)
    if (topics.some((t) => typeof t !== 'string')) {
      throw new KafkaJSNonRetriableError('Invalid topics array, the names must be a valid string')
    }
    const b = await this.broker()
    try {
      for (const topic of topics) await b.callAsync(() => b.native.deleteTopic(topic))
    } finally {
      b.topicsChanged()
    }
  }

  async createPartitions({ topicPartitions, validateOnly = false } = {}) {
    if (!topicPartitions || !Array.isArray(topicPartitions)) {
      throw new KafkaJSNonRetriableError(`Invalid topic partitions array ${topicPartitions}`)
    }
    if (topicPartitions.length === 0) throw new KafkaJSNonRetriableError('Empty topic partitions array')
    if (topicPartitions.some((t) => !t || typeof t.topic !== 'string')) {
      throw new KafkaJSNonRetriableError('Invalid topic partitions array, the topic names have to be a valid string')
    }
    if (new Set(topicPartitions.map((t) => t.topic)).size < topicPartitions.length) {
      throw new KafkaJSNonRetriableError('Invalid topic partitions array, it cannot have multiple entries for the same topic')
    }
    for (const { topic, count } of topicPartitions) {
      if (!Number.isInteger(count)) throw new TypeError(`topicPartitions[].count of "${topic}" must be an integer, got ${describe(count)}`)
    }
    const b = await this.broker()
    try {
      for (const { topic, count } of topicPartitions) {
        await b.callAsync(() => b.native.createPartitions(topic, count, !!validateOnly))
      }
    } finally {
      b.topicsChanged()
    }
  }

  async fetchTopicMetadata({ topics = [] } = {}) {
    if (!Array.isArray(topics)) throw new KafkaJSNonRetriableError(`Invalid topics array ${topics}`)
    for (const topic of topics) {
      if (!topic || typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    }
    const b = await this.broker()
    const names = topics.length > 0 ? topics : b.call(() => b.native.topics())
    return {
      topics: names.map((name) => {
        const n = b.partitionCount(name)
        if (n === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${name}"`)
        // A copy: the cached metadata is what partitioners see.
        return { name, partitions: structuredClone(partitionMetadataOf(n)) }
      }),
    }
  }

  async fetchTopicOffsets(topic) {
    if (!topic || typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    const b = await this.broker()
    return b.call(() => b.native.offsets(topic)).map(({ partition, low, high }) => ({
      partition,
      offset: String(high),
      high: String(high),
      low: String(low),
    }))
  }

  async fetchTopicOffsetsByTimestamp(topic, timestamp) {
    if (!topic || typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    const b = await this.broker()
    const offsets = b.call(() => b.native.offsets(topic))
    const ts = timestamp === undefined || timestamp === null ? null : Number(timestamp)
    if (ts !== null && !Number.isFinite(ts)) throw new TypeError(`timestamp must be milliseconds since the epoch, got ${describe(timestamp)}`)
    return offsets.map(({ partition, high }) => {
      // As Kafka's ListOffsets: the earliest offset whose timestamp is >= ts; when every
      // record is older, kafkajs answers with the high watermark.
      const found = ts === null ? null : b.call(() => b.native.offsetForTimestamp(topic, partition, ts))
      return { partition, offset: String(found === null ? high : found) }
    })
  }

  async deleteTopicRecords({ topic, partitions } = {}) {
    if (!topic || typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic "${topic}"`)
    if (!partitions || !Array.isArray(partitions) || partitions.length === 0) throw new KafkaJSNonRetriableError('Invalid partitions')
    const b = await this.broker()
    const count = b.partitionCount(topic)
    if (count === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)
    const offsets = b.call(() => b.native.offsets(topic))
    const failed = []
    for (const { partition, offset } of partitions) {
      if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
        failed.push({
          partition,
          offset,
          error: protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: topic "${topic}" has no partition ${partition}`, { retriable: false }),
        })
        continue
      }
      const target = Number(offset)
      if (!Number.isSafeInteger(target) || target < -1) {
        failed.push({ partition, offset, error: protocolError('OFFSET_OUT_OF_RANGE', `offset ${offset} is not a valid offset`) })
        continue
      }
      if (target !== -1 && target < offsets[partition].low) {
        this.log.warn('The requested offset is before the earliest offset maintained on the partition - no records will be deleted from this partition', { topic, partition, offset })
        continue
      }
      try {
        await b.callAsync(() => b.native.deleteRecords(topic, partition, target))
      } catch (error) {
        failed.push({ partition, offset, error })
      }
    }
    if (failed.length > 0) throw new KafkaJSDeleteTopicRecordsError({ topic, partitions: failed })
  }

  async describeCluster() {
    const b = await this.broker()
    return {
      brokers: [{ nodeId: 0, host: 'localhost', port: 0 }],
      controller: 0,
      clusterId: b.clusterId,
    }
  }

  async listGroups() {
    const b = await this.broker()
    return { groups: b.call(() => b.native.listGroups()).map((groupId) => ({ groupId, protocolType: 'consumer' })) }
  }

  async describeGroups(groupIds) {
    if (!Array.isArray(groupIds)) throw new KafkaJSNonRetriableError(`Invalid groupIds array ${groupIds}`)
    const b = await this.broker()
    return { groups: groupIds.map((g) => describeGroupShape(b.call(() => b.native.describeGroup(g)))) }
  }

  async deleteGroups(groupIds) {
    if (!groupIds || !Array.isArray(groupIds)) throw new KafkaJSNonRetriableError(`Invalid groupIds array ${groupIds}`)
    if (groupIds.some((g) => typeof g !== 'string')) throw new KafkaJSNonRetriableError(`Invalid groupId name: ${JSON.stringify(groupIds)}`)
    const b = await this.broker()
    const results = []
    const errors = []
    for (const groupId of groupIds) {
      try {
        await b.callAsync(() => b.native.deleteGroup(groupId))
        results.push({ groupId, errorCode: 0 })
      } catch (error) {
        errors.push({ groupId, errorCode: error.code, error })
      }
    }
    if (errors.length > 0) throw new KafkaJSDeleteGroupsError('Error in DeleteGroups', errors)
    return results
  }

  async fetchOffsets({ groupId, topics, resolveOffsets = false } = {}) {
    if (!groupId) throw new KafkaJSNonRetriableError(`Invalid groupId ${groupId}`)
    if (topics != null && !Array.isArray(topics)) throw new KafkaJSNonRetriableError('Expected topics array to be set')
    const b = await this.broker()
    const names = topics && topics.length > 0 ? topics : b.call(() => b.native.committedTopics(groupId))
    const out = []
    for (const topic of names) {
      const count = b.partitionCount(topic)
      if (count === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)
      const committed = new Map(b.call(() => b.native.committedOffsets(groupId, topic)).map((o) => [o.partition, o]))
      const marks = resolveOffsets ? b.call(() => b.native.offsets(topic)) : null
      out.push({
        topic,
        partitions: Array.from({ length: count }, (_, partition) => {
          const c = committed.get(partition)
          const offset = c ? String(c.offset) : resolveOffsets ? String(marks[partition].high) : '-1'
          return { partition, offset, metadata: (c && c.metadata) || null }
        }),
      })
    }
    return out
  }

  /** Commits offsets for a group with no running members (as Kafka requires). */
  async setOffsets({ groupId, topic, partitions } = {}) {
    if (!groupId) throw new KafkaJSNonRetriableError(`Invalid groupId ${groupId}`)
    if (!topic) throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    if (!Array.isArray(partitions) || partitions.length === 0) throw new KafkaJSNonRetriableError('Invalid partitions')
    const b = await this.broker()
    const count = b.partitionCount(topic)
    if (count === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)
    const marks = b.call(() => b.native.offsets(topic))
    const offsets = partitions.map(({ partition, offset }) => {
      if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
        throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: topic "${topic}" has no partition ${partition}`, { retriable: false })
      }
      let o = Number(offset)
      if (!Number.isSafeInteger(o) || o < -2) throw new TypeError(`Invalid offset ${describe(offset)} for partition ${partition}`)
      if (o === -2) o = marks[partition].low
      if (o === -1) o = marks[partition].high
      return { topic, partition, offset: o }
    })
    await this.assertNoRunningMembers(b, groupId)
    await b.callAsync(() => b.native.setGroupOffsets(groupId, offsets))
  }

  async resetOffsets({ groupId, topic, earliest = false } = {}) {
    if (!groupId) throw new KafkaJSNonRetriableError(`Invalid groupId ${groupId}`)
    if (!topic) throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    const b = await this.broker()
    const count = b.partitionCount(topic)
    if (count === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)
    const partitions = Array.from({ length: count }, (_, partition) => ({ partition, offset: earliest ? '-2' : '-1' }))
    await this.setOffsets({ groupId, topic, partitions })
  }

  async assertNoRunningMembers(b, groupId) {
    const { state } = b.call(() => b.native.describeGroup(groupId))
    if (state !== 'Empty' && state !== 'Dead') {
      throw new KafkaJSNonRetriableError(`The consumer group must have no running instances, current state: ${state}`)
    }
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

  async listPartitionReassignments() {
    return { topics: [] }
  }

  checkResources(resources, { entries }) {
    if (!resources || !Array.isArray(resources)) throw new KafkaJSNonRetriableError(`Invalid resources array ${resources}`)
    if (resources.length === 0) throw new KafkaJSNonRetriableError('Resources array cannot be empty')
    const types = Object.values(ConfigResourceTypes)
    const invalidType = resources.find((r) => !r || !types.includes(r.type))
    if (invalidType) throw new KafkaJSNonRetriableError(`Invalid resource type ${invalidType && invalidType.type}: ${JSON.stringify(invalidType)}`)
    const invalidName = resources.find((r) => !r.name || typeof r.name !== 'string')
    if (invalidName) throw new KafkaJSNonRetriableError(`Invalid resource name ${invalidName.name}: ${JSON.stringify(invalidName)}`)
    if (entries) {
      const bad = resources.find((r) => !Array.isArray(r.configEntries))
      if (bad) throw new KafkaJSNonRetriableError(`Invalid resource configEntries ${bad.configEntries}: ${JSON.stringify(bad)}`)
      const badValue = resources.find((r) => r.configEntries.some((e) => !e || typeof e.name !== 'string' || typeof e.value !== 'string'))
      if (badValue) throw new KafkaJSNonRetriableError(`Invalid resource config value: ${JSON.stringify(badValue)}`)
    } else {
      const bad = resources.find((r) => r.configNames != null && !Array.isArray(r.configNames))
      if (bad) throw new KafkaJSNonRetriableError(`Invalid resource configNames ${bad.configNames}: ${JSON.stringify(bad)}`)
    }
    const notTopic = resources.find((r) => r.type !== ConfigResourceTypes.TOPIC)
    if (notTopic) {
      throw new KafkaJSNonRetriableError(
        `samsa configures topics only (ConfigResourceTypes.TOPIC); broker settings are options of new Kafka({...}): ${JSON.stringify(notTopic)}`
      )
    }
  }

  // `includeSynonyms` is accepted; topic configs here have no broker-level synonyms.
  async describeConfigs({ resources } = {}) {
    this.checkResources(resources, { entries: false })
    const b = await this.broker()
    return {
      throttleTime: 0,
      resources: resources.map(({ type, name, configNames }) => {
        const all = b.call(() => b.native.describeConfigs(name))
        const wanted = configNames && configNames.length > 0 ? all.filter((e) => configNames.includes(e.name)) : all
        return {
          errorCode: 0,
          errorMessage: null,
          resourceType: type,
          resourceName: name,
          configEntries: wanted.map((e) => ({
            configName: e.name,
            configValue: e.value,
            readOnly: false,
            isDefault: e.isDefault,
            configSource: e.isDefault ? ConfigSource.DEFAULT_CONFIG : ConfigSource.TOPIC_CONFIG,
            isSensitive: false,
            configSynonyms: [],
          })),
        }
      }),
    }
  }

  async alterConfigs({ resources, validateOnly = false } = {}) {
    this.checkResources(resources, { entries: true })
    const b = await this.broker()
    for (const { name, configEntries } of resources) {
      await b.callAsync(() =>
        b.native.alterConfigs(name, configEntries.map((e) => e.name), configEntries.map((e) => e.value), !!validateOnly)
      )
    }
    return {
      throttleTime: 0,
      resources: resources.map(({ type, name }) => ({ errorCode: 0, errorMessage: null, resourceType: type, resourceName: name })),
    }
  }
}

module.exports = { Admin, ConfigResourceTypes, ConfigSource }
