'use strict'

const fs = require('node:fs')
const path = require('node:path')
const {
  Kafka,
  ConfigResourceTypes,
  logLevel,
  KafkaJSProtocolError,
  KafkaJSNonRetriableError,
  KafkaJSDeleteTopicRecordsError,
  KafkaJSAggregateError,
  KafkaJSCreateTopicError,
  KafkaJSNumberOfRetriesExceeded,
} = require('..')
const { tempDir, waitFor } = require('./helpers')

// Short retries: errors that kafkajs retries (a missing topic, a disk error) end quickly.
const FAST_RETRY = { retries: 2, initialRetryTime: 5, maxRetryTime: 20 }

function setup(options = {}) {
  const dataDir = tempDir()
  return { dataDir, kafka: new Kafka({ clientId: 'test', dataDir, logLevel: logLevel.NOTHING, retry: FAST_RETRY, ...options }) }
}

/** What a retriable error becomes once the retries run out, as in kafkajs. */
const retriesExceeded = (cause) => expect.objectContaining({ name: 'KafkaJSNumberOfRetriesExceeded', cause: expect.objectContaining(cause) })

/** createTopics' failure, as kafkajs's: a KafkaJSAggregateError of KafkaJSCreateTopicErrors. */
async function createTopicsError(admin, args) {
  const err = await admin.createTopics(args).then(
    () => null,
    (e) => e
  )
  expect(err).toBeInstanceOf(KafkaJSAggregateError)
  for (const e of err.errors) expect(e).toBeInstanceOf(KafkaJSCreateTopicError)
  return err
}

describe('admin', () => {
  test('createTopics resolves true, then false for a topic that exists while still creating the others', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    expect(await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })).toBe(true)
    expect(
      await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }, { topic: 'restaurant-updates' }] })
    ).toBe(false)
    expect((await admin.listTopics()).sort()).toEqual(['restaurant-updates', 'rider-updates'])
    const { topics } = await admin.fetchTopicMetadata({ topics: ['rider-updates', 'restaurant-updates'] })
    expect(topics[0].name).toBe('rider-updates')
    expect(topics[0].partitions).toHaveLength(4)
    expect(topics[0].partitions[3]).toEqual({ partitionErrorCode: 0, partitionId: 3, leader: 0, replicas: [0], isr: [0], offlineReplicas: [] })
    expect(topics[1].partitions).toHaveLength(1) // Kafka's num.partitions default
    await admin.disconnect()
  })

  test('validateOnly creates nothing', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    expect(await admin.createTopics({ validateOnly: true, topics: [{ topic: 'dry-run', numPartitions: 3 }] })).toBe(true)
    expect(await admin.listTopics()).toEqual([])
    await admin.disconnect()
  })

  test('admin calls made while connect() is pending work', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    admin.connect() // no await, as tutorials often forget
    expect(await admin.createTopics({ topics: [{ topic: 'early' }] })).toBe(true)
    expect(await admin.listTopics()).toEqual(['early'])
    await admin.disconnect()
  })

  test('createPartitions grows a topic and refuses to shrink it', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 2 }] })
    await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5 }] })
    expect((await admin.fetchTopicOffsets('grow')).map((p) => p.partition)).toEqual([0, 1, 2, 3, 4])
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] })).rejects.toMatchObject({ type: 'INVALID_PARTITIONS' })
    // A producer sees the new partitions at once.
    const producer = kafka.producer()
    await producer.connect()
    const [r] = await producer.send({ topic: 'grow', messages: [{ value: 'x', partition: 4 }] })
    expect(r.partition).toBe(4)
    await producer.disconnect()
    await admin.disconnect()
  })

  test('createPartitions that fails part-way leaves memory and disk as they were', async () => {
    const { dataDir, kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 2 }] })
    // Partition 3 cannot be created (a file is in its way); partition 2 could.
    const blocker = path.join(dataDir, 'topics', 'grow', '3')
    fs.writeFileSync(blocker, 'in the way')
    // kafkajs's createPartitions does not retry the broker's errors: the disk error as it is.
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5 }] })).rejects.toMatchObject({ type: 'KAFKA_STORAGE_ERROR' })
    const partitions = async () => (await admin.fetchTopicMetadata({ topics: ['grow'] })).topics[0].partitions.length
    expect(await partitions()).toBe(2)
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'topics', 'grow', 'topic.json'))).partitions).toBe(2)
    expect(fs.existsSync(path.join(dataDir, 'topics', 'grow', '2'))).toBe(false)
    const producer = kafka.producer()
    await producer.connect()
    await expect(producer.send({ topic: 'grow', messages: [{ partition: 2, value: 'x' }] })).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await producer.disconnect()
    await admin.disconnect()
    // Reopened, the topic still has 2 partitions; once the way is clear it grows.
    expect(await partitions()).toBe(2)
    fs.rmSync(blocker)
    await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5 }] })
    expect(await partitions()).toBe(5)
    await admin.disconnect()
  })

  test('deleteTopics removes the topic and its data', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'doomed' }] })
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    await producer.send({ topic: 'doomed', messages: [{ value: 'x' }] })
    await admin.deleteTopics({ topics: ['doomed'] })
    expect(await admin.listTopics()).toEqual([])
    await expect(producer.send({ topic: 'doomed', messages: [{ value: 'x' }] })).rejects.toEqual(retriesExceeded({ type: 'UNKNOWN_TOPIC_OR_PARTITION' }))
    await expect(admin.deleteTopics({ topics: ['doomed'] })).rejects.toEqual(retriesExceeded({ type: 'UNKNOWN_TOPIC_OR_PARTITION' }))
    await producer.disconnect()
    await admin.disconnect()
  })

  test('fetchTopicOffsets, fetchTopicOffsetsByTimestamp and deleteTopicRecords', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'offsets', numPartitions: 2 }] })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({
      topic: 'offsets',
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: 0, timestamp: String(1_000_000 + i * 1000) })),
    })
    expect(await admin.fetchTopicOffsets('offsets')).toEqual([
      { partition: 0, offset: '10', high: '10', low: '0' },
      { partition: 1, offset: '0', high: '0', low: '0' },
    ])
    expect(await admin.fetchTopicOffsetsByTimestamp('offsets', 1_004_500)).toEqual([
      { partition: 0, offset: '5' },
      { partition: 1, offset: '0' },
    ])
    // Newer than every record: the high watermark, as kafkajs answers.
    expect((await admin.fetchTopicOffsetsByTimestamp('offsets', 9_999_999_999))[0].offset).toBe('10')
    await admin.deleteTopicRecords({ topic: 'offsets', partitions: [{ partition: 0, offset: '7' }] })
    expect((await admin.fetchTopicOffsets('offsets'))[0]).toEqual({ partition: 0, offset: '10', high: '10', low: '7' })
    await admin.deleteTopicRecords({ topic: 'offsets', partitions: [{ partition: 0, offset: '-1' }] })
    expect((await admin.fetchTopicOffsets('offsets'))[0].low).toBe('10')
    // As kafkajs: a deletion that fails for good ends as the cause of a KafkaJSNonRetriableError.
    const err = await admin.deleteTopicRecords({ topic: 'offsets', partitions: [{ partition: 1, offset: '99' }] }).catch((e) => e)
    expect(err).toBeInstanceOf(KafkaJSNonRetriableError)
    expect(err.cause).toBeInstanceOf(KafkaJSDeleteTopicRecordsError)
    expect(err.cause.partitions[0].error).toMatchObject({ name: 'KafkaJSProtocolError', type: 'OFFSET_OUT_OF_RANGE' })
    // A partition the topic does not have fails at once (kafkajs: no leader for it).
    const noLeader = await admin.deleteTopicRecords({ topic: 'offsets', partitions: [{ partition: 7, offset: '1' }] }).catch((e) => e)
    expect(noLeader).toBeInstanceOf(KafkaJSDeleteTopicRecordsError)
    expect(noLeader.partitions[0].error).toMatchObject({ name: 'KafkaJSBrokerNotFound', retriable: false })
    await producer.disconnect()
    await admin.disconnect()
  })

  test('describeConfigs and alterConfigs speak Kafka topic config names', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      topics: [{ topic: 'configured', configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
    })
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured', configNames: ['retention.ms', 'segment.bytes'] }],
    })
    expect(described.resources[0].resourceName).toBe('configured')
    const entries = Object.fromEntries(described.resources[0].configEntries.map((e) => [e.configName, e]))
    expect(entries['retention.ms']).toMatchObject({ configValue: '3600000', isDefault: false, readOnly: false })
    expect(entries['segment.bytes']).toMatchObject({ configValue: '1073741824', isDefault: true })

    const altered = await admin.alterConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured', configEntries: [{ name: 'retention.bytes', value: '1048576' }] }],
    })
    expect(altered.resources[0]).toMatchObject({ errorCode: 0, resourceName: 'configured' })
    const after = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured' }] })
    const byName = Object.fromEntries(after.resources[0].configEntries.map((e) => [e.configName, e.configValue]))
    expect(byName['retention.bytes']).toBe('1048576')
    // AlterConfigs (not incremental) replaces the set: retention.ms is back to its default.
    expect(byName['retention.ms']).toBe('604800000')

    await expect(
      admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured', configEntries: [{ name: 'no.such.config', value: '1' }] }] })
    ).rejects.toMatchObject({ type: 'INVALID_CONFIG' })
    // Compaction's policies are taken and described; a topic without a policy is not.
    const policies = { compacted: 'compact', both: 'compact,delete' }
    expect(await admin.createTopics({ topics: Object.entries(policies).map(([topic, value]) => ({ topic, configEntries: [{ name: 'cleanup.policy', value }] })) })).toBe(true)
    for (const [topic, value] of Object.entries(policies)) {
      const d = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }] })
      expect(d.resources[0].configEntries[0]).toMatchObject({ configName: 'cleanup.policy', configValue: value, isDefault: false })
    }
    const err = await createTopicsError(admin, { topics: [{ topic: 'kept', configEntries: [{ name: 'cleanup.policy', value: '' }] }] })
    expect(err.errors[0]).toMatchObject({ type: 'INVALID_CONFIG', topic: 'kept' })
    await admin.disconnect()
  })

  test('deleteTopicRecords on a topic whose cleanup.policy lacks delete fails with POLICY_VIOLATION, as in Kafka', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    const topics = [
      { topic: 'compacted', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      { topic: 'both', configEntries: [{ name: 'cleanup.policy', value: 'compact,delete' }] },
    ]
    await admin.createTopics({ topics })
    const producer = kafka.producer()
    await producer.connect()
    for (const { topic } of topics) await producer.send({ topic, messages: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] })
    const err = await admin.deleteTopicRecords({ topic: 'compacted', partitions: [{ partition: 0, offset: '1' }] }).catch((e) => e)
    expect(err).toBeInstanceOf(KafkaJSNonRetriableError)
    expect(err.cause).toBeInstanceOf(KafkaJSDeleteTopicRecordsError)
    expect(err.cause.partitions[0].error).toMatchObject({
      name: 'KafkaJSProtocolError',
      type: 'POLICY_VIOLATION',
      code: 44,
      retriable: false,
      message: 'Records of partition compacted-0 can not be deleted due to the configured policy',
    })
    expect((await admin.fetchTopicOffsets('compacted'))[0]).toMatchObject({ low: '0', high: '2' })
    // With delete in the policy too, records are deleted as on any topic.
    await admin.deleteTopicRecords({ topic: 'both', partitions: [{ partition: 0, offset: '1' }] })
    expect((await admin.fetchTopicOffsets('both'))[0]).toMatchObject({ low: '1', high: '2' })
    await producer.disconnect()
    await admin.disconnect()
  })

  test('describeCluster reports the one embedded broker', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    const cluster = await admin.describeCluster()
    expect(cluster.brokers).toHaveLength(1)
    expect(cluster.controller).toBe(0)
    // Kafka's form: a random UUID in URL-safe base64, kept in meta.properties.
    expect(cluster.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    await admin.disconnect()
  })

  test('retention deletes old segments in the background', async () => {
    const { kafka } = setup({ retentionCheckIntervalMs: 20 })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      topics: [{ topic: 'short-lived', configEntries: [{ name: 'segment.bytes', value: '4096' }, { name: 'retention.bytes', value: '8192' }] }],
    })
    const producer = kafka.producer()
    await producer.connect()
    for (let i = 0; i < 20; i++) {
      await producer.send({ topic: 'short-lived', messages: Array.from({ length: 10 }, () => ({ value: 'x'.repeat(100) })) })
    }
    await waitFor(async () => Number((await admin.fetchTopicOffsets('short-lived'))[0].low) > 0, { what: 'retention to move the log start' })
    const [p] = await admin.fetchTopicOffsets('short-lived')
    expect(p.high).toBe('200')
    await producer.disconnect()
    await admin.disconnect()
  })

  test('bad input gets kafkajs errors', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    await expect(admin.createTopics({ topics: 'nope' })).rejects.toBeInstanceOf(KafkaJSNonRetriableError)
    await expect(admin.createTopics({ topics: [{ topic: 42 }] })).rejects.toThrow('the topic names have to be a valid string')
    await expect(admin.createTopics({ topics: [{ topic: 'a' }, { topic: 'a' }] })).rejects.toThrow('multiple entries')
    for (const topic of ['', '.', '..', 'with space', 'x'.repeat(250), 'ünïcode']) {
      const err = await createTopicsError(admin, { topics: [{ topic }] })
      expect(err.errors).toEqual([expect.objectContaining({ type: 'INVALID_TOPIC_EXCEPTION', topic })])
    }
    expect((await createTopicsError(admin, { topics: [{ topic: 'zero', numPartitions: 0 }] })).errors[0].type).toBe('INVALID_PARTITIONS')
    await expect(admin.createTopics({ topics: [{ topic: 'frac', numPartitions: 1.5 }] })).rejects.toThrow(TypeError)
    await expect(admin.createTopics({ topics: [{ topic: 'huge', numPartitions: 2 ** 32 + 1 }] })).rejects.toThrow(/numPartitions.*must be an integer/)
    expect((await createTopicsError(admin, { topics: [{ topic: 'rf', replicationFactor: 3 }] })).errors[0].type).toBe('INVALID_REPLICATION_FACTOR')
    await expect(admin.createTopics({ topics: [{ topic: 'cfg', configEntries: [{ name: 'retention.ms' }] }] })).rejects.toThrow('valid "value" property')
    const offsetsError = await admin.fetchTopicOffsets('missing').catch((e) => e)
    expect(offsetsError).toBeInstanceOf(KafkaJSNumberOfRetriesExceeded)
    expect(offsetsError.cause).toBeInstanceOf(KafkaJSProtocolError)
    await expect(admin.fetchTopicMetadata({ topics: ['missing'] })).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await expect(admin.describeConfigs({ resources: [] })).rejects.toThrow('cannot be empty')
    expect(await admin.listTopics()).toEqual([])
    await admin.disconnect()
  })

  test('createTopics with a bad topic rejects with a KafkaJSAggregateError of KafkaJSCreateTopicErrors, and creates the others', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'existing' }] })
    const err = await createTopicsError(admin, {
      topics: [
        { topic: 'fine-1', numPartitions: 2 },
        { topic: 'no-partitions', numPartitions: 0 },
        { topic: 'existing' },
        { topic: 'bad-config', configEntries: [{ name: 'no.such.config', value: '1' }] },
        { topic: 'fine-2' },
      ],
    })
    expect(err.message).toBe('Topic creation errors')
    // As kafkajs reports them: every topic that was not created, the existing one included,
    // in topic name order.
    expect(err.errors.map((e) => [e.topic, e.type])).toEqual([
      ['bad-config', 'INVALID_CONFIG'],
      ['existing', 'TOPIC_ALREADY_EXISTS'],
      ['no-partitions', 'INVALID_PARTITIONS'],
    ])
    expect(err.errors[2]).toBeInstanceOf(KafkaJSProtocolError)
    expect(err.errors[2].retriable).toBe(false)
    // Kafka's CreateTopics: the good topics of the same call are created.
    expect((await admin.listTopics()).sort()).toEqual(['existing', 'fine-1', 'fine-2'])
    expect((await admin.fetchTopicOffsets('fine-1')).length).toBe(2)
    await admin.disconnect()
  })

  test('createTopics creates a thousand topics in one call', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    const topics = Array.from({ length: 1000 }, (_, i) => ({ topic: `bulk-${i}` }))
    expect(await admin.createTopics({ topics })).toBe(true)
    expect(await admin.listTopics()).toHaveLength(1000)
    expect(await admin.createTopics({ topics })).toBe(false)
    await admin.disconnect()
  })

  test("calls on a missing topic that kafkajs retries are retried per the admin's retry settings, then fail with the protocol error as cause", async () => {
    const retries = []
    const logCreator = () => ({ namespace, log }) => namespace.endsWith('Admin') && log.message.startsWith('Retrying') && retries.push(log.retryCount)
    // The admin's own settings win over the Kafka object's (retries: 0 there).
    const { kafka } = setup({ retry: { retries: 0 }, logLevel: logLevel.WARN, logCreator })
    const admin = kafka.admin({ retry: { retries: 3, initialRetryTime: 10, maxRetryTime: 50 } })
    const started = Date.now()
    const err = await admin.fetchTopicOffsets('not-yet').catch((e) => e)
    expect(err).toBeInstanceOf(KafkaJSNumberOfRetriesExceeded)
    expect(err.retryCount).toBe(3)
    expect(err.cause).toBeInstanceOf(KafkaJSProtocolError)
    expect(err.cause).toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true })
    expect(retries).toEqual([0, 1, 2])
    // Three waits with kafkajs's backoff: about 10 + 20 + 40 ms (each ± 20% jitter).
    expect(Date.now() - started).toBeGreaterThanOrEqual(50)
    for (const call of [
      () => admin.fetchTopicOffsetsByTimestamp('not-yet', 0),
      () => admin.deleteTopics({ topics: ['not-yet'] }),
      () => admin.deleteTopicRecords({ topic: 'not-yet', partitions: [{ partition: 0, offset: '0' }] }),
    ]) {
      await expect(call()).rejects.toEqual(retriesExceeded({ type: 'UNKNOWN_TOPIC_OR_PARTITION' }))
    }
    // The calls kafkajs does not retry fail at once with the broker's error, as there.
    retries.length = 0
    for (const call of [
      () => admin.fetchTopicMetadata({ topics: ['not-yet'] }),
      () => admin.fetchOffsets({ groupId: 'g', topics: ['not-yet'] }),
      () => admin.resetOffsets({ groupId: 'g', topic: 'not-yet' }),
      () => admin.createPartitions({ topicPartitions: [{ topic: 'not-yet', count: 2 }] }),
      () => admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'not-yet' }] }),
    ]) {
      await expect(call()).rejects.toMatchObject({ name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION' })
    }
    // Nor is an error that retrying cannot mend.
    await expect(admin.fetchTopicOffsets('no spaces')).rejects.toMatchObject({ name: 'KafkaJSProtocolError', type: 'INVALID_TOPIC_EXCEPTION' })
    expect(retries).toEqual([])
    await admin.disconnect()
  })

  test('a topic created while an admin call retries is found', async () => {
    const { kafka } = setup()
    const creator = kafka.admin()
    let created = null
    const logCreator = () => ({ log }) => {
      if (log.message.startsWith('Retrying') && !created) created = creator.createTopics({ topics: [{ topic: 'late', numPartitions: 3 }] })
    }
    const watcher = new Kafka({ dataDir: kafka.dataDir, logLevel: logLevel.WARN, logCreator }).admin({ retry: { retries: 5, initialRetryTime: 20 } })
    const offsets = await watcher.fetchTopicOffsets('late')
    expect(await created).toBe(true)
    expect(offsets.map((o) => o.partition)).toEqual([0, 1, 2])
    await watcher.disconnect()
    await creator.disconnect()
  })

  test('bad arguments are refused before they reach the broker', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 't', numPartitions: 2 }] })
    const cases = [
      [() => admin.fetchOffsets({ groupId: 42, topics: ['t'] }), TypeError, /groupId must be a non-empty string, got number 42/],
      [() => admin.fetchOffsets({ groupId: 'g', topics: [7] }), KafkaJSNonRetriableError, /Invalid topic 7/],
      [() => admin.fetchOffsets({ groupId: null }), KafkaJSNonRetriableError, /Invalid groupId null/],
      [() => admin.setOffsets({ groupId: { id: 1 }, topic: 't', partitions: [{ partition: 0, offset: '0' }] }), TypeError, /groupId must be/],
      [() => admin.setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: '0', offset: '0' }] }), TypeError, /partitions\[0\]\.partition must be an integer/],
      [() => admin.setOffsets({ groupId: 'g', topic: 't', partitions: [null] }), TypeError, /partitions\[0\] must be an object/],
      [() => admin.resetOffsets({ groupId: Symbol('g'), topic: 't' }), TypeError, /groupId must be a non-empty string, got a symbol/],
      [() => admin.resetOffsets({ groupId: 'g', topic: 5n }), KafkaJSNonRetriableError, /Invalid topic a bigint/],
      [() => admin.describeGroups(['g', 1]), TypeError, /groupIds\[1\] must be a non-empty string/],
      [() => admin.deleteGroups([1n]), KafkaJSNonRetriableError, /Invalid groupId name: a bigint/],
      [() => admin.createPartitions({ topicPartitions: [{ topic: 't', count: 2 ** 32 + 3 }] }), TypeError, /count of "t" must be an integer/],
      [() => admin.describeConfigs({ resources: [false] }), KafkaJSNonRetriableError, /Invalid resource type/],
      [() => admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 't', configNames: [1] }] }), TypeError, /configNames\[0\] must be a string/],
      [() => admin.fetchTopicOffsetsByTimestamp('t', 'yesterday'), TypeError, /timestamp must be/],
      [() => admin.createTopics(null), TypeError, /createTopics takes an options object/],
      [() => admin.on(admin.events.CONNECT, 'not a function'), TypeError, /listener must be a function/],
      [() => kafka.admin({ retry: { retries: -1 } }), TypeError, /retry.retries must be a non-negative integer/],
    ]
    for (const [call, Class, message] of cases) {
      const err = await Promise.resolve().then(call).then(
        () => null,
        (e) => e
      )
      expect(err).toBeInstanceOf(Class)
      expect(err.message).toMatch(message)
    }
    await admin.disconnect()
  })

  test('resetOffsets commits the EARLIEST or LATEST sentinel, and fetchOffsets({ resolveOffsets }) resolves and commits it, as kafkajs does', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'r', numPartitions: 2 }] })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'r', messages: [0, 0, 0, 1].map((partition) => ({ partition, value: 'x' })) })
    await admin.deleteTopicRecords({ topic: 'r', partitions: [{ partition: 0, offset: '1' }] })
    const offsets = async (args = {}) => (await admin.fetchOffsets({ groupId: 'g', topics: ['r'], ...args }))[0].partitions.map((p) => p.offset)
    await admin.resetOffsets({ groupId: 'g', topic: 'r', earliest: true })
    expect(await offsets()).toEqual(['-2', '-2'])
    expect(await offsets({ resolveOffsets: true })).toEqual(['1', '0'])
    expect(await offsets()).toEqual(['1', '0'])
    await admin.resetOffsets({ groupId: 'g', topic: 'r' })
    expect(await offsets()).toEqual(['-1', '-1'])
    expect(await offsets({ resolveOffsets: true })).toEqual(['3', '1'])
    await producer.disconnect()
    await admin.disconnect()
  })
})
