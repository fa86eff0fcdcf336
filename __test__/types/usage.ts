// Compiled (never run) by __test__/types.test.js: code written for kafkajs 2.2.4, plus
// samsa's own options, must type-check against index.d.ts. Each section walks one part of
// the public surface; `@ts-expect-error` lines pin down what the types must refuse.
import {
  Kafka,
  KafkaConfig,
  ListenOptions,
  ConsoleOptions,
  SamsaConsole,
  VerifyReport,
  VerifyDamage,
  Partitioners,
  PartitionAssigners,
  AssignerProtocol,
  MemberMetadata,
  MemberAssignment,
  CompressionTypes,
  CompressionCodecs,
  ConfigResourceTypes,
  ConfigSource,
  AclResourceTypes,
  AclOperationTypes,
  AclPermissionTypes,
  ResourcePatternTypes,
  AclEntry,
  AclFilter,
  logLevel,
  logCreator,
  LogEntry,
  Logger,
  ICustomPartitioner,
  PartitionMetadata,
  Message,
  RecordMetadata,
  Producer,
  Transaction,
  Admin,
  Consumer,
  EachMessagePayload,
  EachBatchHandler,
  ConsumerRunConfig,
  ConsumerGroupJoinEvent,
  ConsumerCrashEvent,
  ConnectEvent,
  InstrumentationEvent,
  GroupDescription,
  TopicPartitionOffset,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSProtocolError,
  KafkaJSOffsetOutOfRange,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSConnectionError,
  KafkaJSConnectionClosedError,
  KafkaJSRequestTimeoutError,
  KafkaJSTopicMetadataNotLoaded,
  KafkaJSStaleTopicMetadataAssignment,
  KafkaJSServerDoesNotSupportApiKey,
  KafkaJSMemberIdRequired,
  KafkaJSCreateTopicError,
  KafkaJSAlterPartitionReassignmentsError,
  KafkaJSAggregateError,
  KafkaJSDeleteGroupsError,
  KafkaJSDeleteTopicRecordsError,
  KafkaJSNotImplemented,
  KafkaJSMetadataNotLoaded,
  KafkaJSLockTimeout,
  KafkaJSTimeout,
} from '../..'

const RIDES = 'rider-updates'

// --- Client configuration and logging -----------------------------------------------------

const jsonLogs: logCreator = (level: logLevel) => (entry: LogEntry) => {
  const when: number = Date.parse(entry.log.timestamp)
  const line = { level, label: entry.label, ns: entry.namespace, msg: entry.log.message, when, extra: entry.log['riderId'] }
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function clients(): Kafka[] {
  const embedded = new Kafka({
    clientId: 'rider-app',
    dataDir: './data',
    fsync: true,
    segmentBytes: 64 * 1024 * 1024,
    segmentMs: 60 * 60 * 1000,
    retentionMs: -1,
    retentionBytes: 1024 * 1024 * 1024,
    maxMessageBytes: 2 * 1024 * 1024,
    autoCreateTopics: false,
    defaultNumPartitions: 4,
    retentionCheckIntervalMs: 30_000,
    maxOpenFiles: 512,
    cleanerBackoffMs: 15_000,
    cleanerDedupeBufferSize: 64 * 1024 * 1024,
    cleanerIoMaxBytesPerSecond: 50 * 1024 * 1024,
    logLevel: logLevel.DEBUG,
    logCreator: jsonLogs,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 5_000, factor: 0.2, multiplier: 2, restartOnFailure: async (e: Error) => !(e instanceof KafkaJSNonRetriableError) },
  })
  // A kafkajs config for a remote cluster still compiles (brokers, TLS and SASL are unused).
  const fromKafkajs: KafkaConfig = {
    clientId: 'billing',
    brokers: async () => ['kafka-1:9092', 'kafka-2:9092'],
    ssl: { rejectUnauthorized: true, servername: 'kafka-1' },
    sasl: { mechanism: 'scram-sha-512', username: 'billing', password: 'secret' },
    connectionTimeout: 3_000,
  }
  const oauth = new Kafka({ brokers: ['kafka:9093'], ssl: true, sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: 'token' }) } })
  // @ts-expect-error fsync is a boolean
  new Kafka({ fsync: 'always' })
  // @ts-expect-error the SASL mechanism decides the other fields
  new Kafka({ sasl: { mechanism: 'plain', accessKeyId: 'x' } })
  return [embedded, new Kafka(fromKafkajs), oauth, new Kafka()]
}

async function serveAndVerify(kafka: Kafka): Promise<void> {
  const address: { host: string; port: number } = await kafka.listen({ port: 0, host: '127.0.0.1', advertisedHost: 'samsa.local' })
  kafka.logger().info('listening', { broker: `${address.host}:${address.port}` })
  const report: VerifyReport = await kafka.verify()
  const first: VerifyDamage | undefined = report.damage[0]
  if (!report.ok && first) kafka.logger().warn('damage', { topic: first.topic, partition: first.partition, from: first.firstOffset })
  const repaired = await kafka.verify({ repair: true })
  for (const r of repaired.repaired) kafka.logger().warn('cut', { topic: r.topic, upTo: r.lastOffset })
  // @ts-expect-error the port is a number
  await kafka.listen({ port: '9092' })
  const options: ListenOptions = { port: 9093 }
  await kafka.listen(options)
  const pages: SamsaConsole = await kafka.console({ port: 0, allowWrites: true })
  kafka.logger().info('console', { url: pages.url, writes: pages.allowWrites })
  await pages.close()
  const readOnly: ConsoleOptions = { host: '127.0.0.1' }
  await kafka.console(readOnly)
  // @ts-expect-error allowWrites is a boolean
  await kafka.console({ allowWrites: 'yes' })
}

function logging(kafka: Kafka): void {
  const root: Logger = kafka.logger()
  const child = root.namespace('RiderMap', logLevel.WARN)
  child.info('started', { riders: 3 })
  child.setLogLevel(logLevel.ERROR)
  const levels: logLevel[] = [logLevel.NOTHING, logLevel.ERROR, logLevel.WARN, logLevel.INFO, logLevel.DEBUG]
  root.debug('levels', { levels })
}

// --- Admin ----------------------------------------------------------------------------------

async function topicAdmin(admin: Admin): Promise<void> {
  await admin.connect()
  const fresh: boolean = await admin.createTopics({
    validateOnly: false,
    waitForLeaders: true,
    timeout: 10_000,
    topics: [
      { topic: RIDES, numPartitions: 4, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] },
      { topic: 'rider-archive', replicaAssignment: [{ partition: 0, replicas: [0] }] },
    ],
  })
  await admin.createPartitions({ topicPartitions: [{ topic: RIDES, count: 8 }], timeout: 5_000 })
  const names: string[] = await admin.listTopics()
  const { topics } = await admin.fetchTopicMetadata({ topics: [RIDES] })
  for (const t of topics) {
    const leaders: number[] = t.partitions.map((p: PartitionMetadata) => p.leader)
    admin.logger().info(t.name, { leaders, isr: t.partitions[0]?.isr })
  }
  const marks = await admin.fetchTopicOffsets(RIDES)
  const lag: number = marks.reduce((sum, m) => sum + Number(m.high) - Number(m.low), 0)
  const sinceYesterday = await admin.fetchTopicOffsetsByTimestamp(RIDES, Date.now() - 86_400_000)
  await admin.deleteTopicRecords({ topic: RIDES, partitions: sinceYesterday.map(({ partition, offset }) => ({ partition, offset })) })
  const cluster = await admin.describeCluster()
  const controller: number | null = cluster.controller
  const hosts: string[] = cluster.brokers.map((b) => `${b.host}:${b.port}#${b.nodeId}`)

  const described = await admin.describeConfigs({
    includeSynonyms: true,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: RIDES, configNames: ['retention.ms'] }],
  })
  for (const r of described.resources) {
    for (const e of r.configEntries) {
      const fromTopic: boolean = e.configSource === ConfigSource.TOPIC_CONFIG
      admin.logger().info(`${r.resourceName} ${e.configName}=${e.configValue}`, { fromTopic, synonyms: e.configSynonyms.map((s) => s.configName), readOnly: e.readOnly })
    }
  }
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: RIDES, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })
  await admin.deleteTopics({ topics: ['rider-archive'], timeout: 5_000 })
  console.log(fresh, names, lag, controller, hosts, described.throttleTime)
}

async function groupAdmin(admin: Admin): Promise<void> {
  const { groups } = await admin.listGroups()
  const ids: string[] = groups.filter((g) => g.protocolType === 'consumer').map((g) => g.groupId)
  const { groups: described } = await admin.describeGroups(ids)
  for (const g of described) {
    const members = g.members.map((m) => ({ id: m.memberId, client: m.clientId, host: m.clientHost, owns: m.assignment[RIDES] ?? [] }))
    console.log(g.groupId, g.state, g.protocol, members)
  }
  const idle = described.filter((g) => g.state === 'Empty').map((g) => g.groupId)
  const deleted = await admin.deleteGroups(idle)
  console.log(deleted.map((d) => [d.groupId, d.errorCode, d.error?.type]))

  const committed = await admin.fetchOffsets({ groupId: 'db-writer', topics: [RIDES], resolveOffsets: false })
  for (const { topic, partitions } of committed) {
    for (const p of partitions) console.log(topic, p.partition, p.offset, p.metadata ?? 'no metadata')
  }
  await admin.fetchOffsets({ groupId: 'db-writer' })
  await admin.setOffsets({ groupId: 'db-writer', topic: RIDES, partitions: [{ partition: 0, offset: '42' }] })
  await admin.resetOffsets({ groupId: 'db-writer', topic: RIDES, earliest: true })
}

// samsa rejects ACL calls (KafkaJSNotImplemented), but code written for kafkajs's result
// shapes compiles.
async function aclAdmin(admin: Admin): Promise<void> {
  const entry: AclEntry = {
    resourceType: AclResourceTypes.GROUP,
    resourceName: 'db-',
    resourcePatternType: ResourcePatternTypes.PREFIXED,
    principal: 'User:writer',
    host: '*',
    operation: AclOperationTypes.READ,
    permissionType: AclPermissionTypes.ALLOW,
  }
  const filter: AclFilter = {
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.MATCH,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  }
  try {
    const created: boolean = await admin.createAcls({ acl: [entry] })
    const found = await admin.describeAcls({ ...filter, principal: 'User:writer' })
    const rules = found.resources.flatMap((r) => r.acls.map((a) => `${r.resourceName}:${a.principal}:${a.operation}:${a.permissionType}`))
    const removed = await admin.deleteAcls({ filters: [filter] })
    const gone = removed.filterResponses.flatMap((f) => f.matchingAcls.map((m) => [m.errorCode, m.resourceType, m.host]))
    console.log(created, found.errorCode, rules, gone)
    // @ts-expect-error createAcls takes { acl: AclEntry[] }
    await admin.createAcls([entry])
  } catch (e) {
    if (e instanceof KafkaJSNotImplemented && !e.retriable) console.log('no ACLs in an embedded broker')
  }
  await admin.alterPartitionReassignments({ topics: [{ topic: RIDES, partitionAssignment: [{ partition: 0, replicas: [0] }] }], timeout: 1_000 }).catch(() => undefined)
  const moving = await admin.listPartitionReassignments({ topics: [{ topic: RIDES, partitions: [0] }] })
  console.log(moving.topics.map((t) => t.partitions.map((p) => [p.partitionIndex, p.replicas, p.addingReplicas])))
}

function adminEvents(admin: Admin): void {
  const stop = admin.on(admin.events.CONNECT, (e: ConnectEvent) => console.log('admin up at', e.timestamp, e.type))
  admin.on(admin.events.REQUEST, (e) => console.log(e.payload.apiName, e.payload.duration))
  stop()
  // @ts-expect-error only the admin's own event names
  admin.on('consumer.heartbeat', () => undefined)
}

// --- Producer --------------------------------------------------------------------------------

// One partition per region: kafkajs's partitioner contract.
const byRegion: ICustomPartitioner = () => ({ topic, partitionMetadata, message }) => {
  const region = message.headers?.['region']
  const n = partitionMetadata.length
  return typeof region === 'string' ? region.length % n : topic.length % n
}

async function produce(kafka: Kafka): Promise<RecordMetadata[]> {
  const producer: Producer = kafka.producer({
    createPartitioner: byRegion,
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 5 },
  })
  kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  kafka.producer({ createPartitioner: Partitioners.LegacyPartitioner })
  kafka.producer({ createPartitioner: Partitioners.JavaCompatiblePartitioner })

  const off = producer.on(producer.events.DISCONNECT, (e) => console.log('producer down', e.id))
  off()
  await producer.connect()
  const idempotent: boolean = producer.isIdempotent()

  const update: Message = {
    key: 'rider-42',
    value: Buffer.from(JSON.stringify({ lat: 52.52, lng: 13.4 })),
    headers: { region: 'berlin', hops: ['a', Buffer.from('b')] },
    timestamp: String(Date.now()),
  }
  const tombstone: Message = { key: Buffer.from('rider-7'), value: null, partition: 2 }
  const sent = await producer.send({ topic: RIDES, acks: -1, timeout: 5_000, compression: CompressionTypes.GZIP, messages: [update, tombstone] })
  for (const r of sent) console.log(r.topicName, r.partition, r.errorCode, r.baseOffset, r.logAppendTime, r.logStartOffset)

  const batch = await producer.sendBatch({
    acks: 1,
    compression: CompressionTypes.None,
    topicMessages: [
      { topic: RIDES, messages: [{ value: 'ping' }] },
      { topic: 'rider-audit', messages: [{ key: null, value: 'ping' }] },
    ],
  })
  // @ts-expect-error a message needs a value (null for a tombstone)
  await producer.send({ topic: RIDES, messages: [{ key: 'k' }] })
  console.log(idempotent)
  await producer.disconnect()
  return [...sent, ...batch]
}

// kafkajs's transaction, typed as kafkajs types it.
async function transfer(producer: Producer): Promise<void> {
  const tx: Transaction = await producer.transaction()
  try {
    await tx.send({ topic: 'ledger', messages: [{ key: 'acct-1', value: '-10' }] })
    await tx.sendBatch({ topicMessages: [{ topic: 'ledger', messages: [{ key: 'acct-2', value: '+10' }] }] })
    await tx.sendOffsets({ consumerGroupId: 'ledger-writer', topics: [{ topic: 'transfers', partitions: [{ partition: 0, offset: '11' }] }] })
    if (tx.isActive()) await tx.commit()
  } catch (e) {
    await tx.abort()
    throw e
  }
}

function codecs(): void {
  const kinds: CompressionTypes[] = [CompressionTypes.None, CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD]
  const zstdCodec = () => ({ compress: async (b: Buffer) => b, decompress: async (b: Buffer) => b })
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec
  console.log(kinds)
}

// --- Consumer --------------------------------------------------------------------------------

function consumers(kafka: Kafka): Consumer {
  const consumer = kafka.consumer({
    groupId: 'db-writer',
    partitionAssigners: [PartitionAssigners.range, PartitionAssigners.roundRobin],
    sessionTimeout: 10_000,
    rebalanceTimeout: 20_000,
    heartbeatInterval: 1_000,
    metadataMaxAge: 60_000,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 1024 * 1024,
    minBytes: 1,
    maxBytes: 10 * 1024 * 1024,
    maxWaitTimeInMs: 100,
    readUncommitted: false,
    retry: { retries: 2, restartOnFailure: async () => true },
  })
  // @ts-expect-error a consumer needs a groupId
  kafka.consumer({ sessionTimeout: 10_000 })
  return consumer
}

const writeRow = async ({ topic, partition, message, heartbeat, pause }: EachMessagePayload): Promise<void> => {
  const key: Buffer | null = message.key
  const body = message.value === null ? null : JSON.parse(message.value.toString())
  const trace = message.headers?.['trace']
  console.log(topic, partition, message.offset, message.timestamp, message.attributes, key?.toString(), body, trace)
  if (body === null) {
    const resume: () => void = pause()
    setTimeout(resume, 1_000)
  }
  await heartbeat()
}

const writeBatch: EachBatchHandler = async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, uncommittedOffsets, isRunning, isStale, pause }) => {
  if (batch.isEmpty()) return
  console.log(batch.topic, batch.partition, batch.highWatermark, batch.firstOffset(), batch.lastOffset(), batch.offsetLag(), batch.offsetLagLow())
  for (const m of batch.messages) {
    if (!isRunning() || isStale()) break
    resolveOffset(m.offset)
    await heartbeat()
  }
  const pending = uncommittedOffsets().topics.flatMap((t) => t.partitions.map((p) => `${t.topic}/${p.partition}@${p.offset}`))
  await commitOffsetsIfNecessary()
  await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: batch.lastOffset() }] }] })
  if (pending.length > 1_000) pause()
}

async function consume(consumer: Consumer): Promise<void> {
  await consumer.connect()
  await consumer.subscribe({ topics: [RIDES, /^rider-.*-v2$/], fromBeginning: true })
  await consumer.subscribe({ topic: 'rider-audit' })
  const perMessage: ConsumerRunConfig = { autoCommit: true, autoCommitInterval: 5_000, autoCommitThreshold: null, partitionsConsumedConcurrently: 4, eachMessage: writeRow }
  await consumer.run(perMessage)
  await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, eachBatch: writeBatch })

  const start: TopicPartitionOffset = { topic: RIDES, partition: 1, offset: '0' }
  consumer.seek(start)
  consumer.pause([{ topic: RIDES }, { topic: 'rider-audit', partitions: [0, 1] }])
  for (const { topic, partitions } of consumer.paused()) console.log('paused', topic, partitions.join(','))
  consumer.resume([{ topic: RIDES, partitions: [3] }])
  await consumer.commitOffsets([
    { topic: RIDES, partition: 0, offset: '100' },
    { topic: RIDES, partition: 1, offset: '7', metadata: 'replayed' },
    { topic: RIDES, partition: 2, offset: '9', metadata: null },
  ])
  const self: GroupDescription = await consumer.describeGroup()
  console.log(self.state, self.members.length, self.errorCode)
  // @ts-expect-error offsets are strings, as in kafkajs
  consumer.seek({ topic: RIDES, partition: 0, offset: 0 })
  await consumer.stop()
  await consumer.disconnect()
}

function consumerEvents(consumer: Consumer): void {
  const { events } = consumer
  const removers = [
    consumer.on(events.HEARTBEAT, (e) => console.log(e.payload.groupId, e.payload.memberId, e.payload.groupGenerationId)),
    consumer.on(events.COMMIT_OFFSETS, (e) => console.log(e.payload.topics.map((t) => t.partitions.length))),
    consumer.on(events.GROUP_JOIN, (e: ConsumerGroupJoinEvent) => {
      const mine: number[] = e.payload.memberAssignment[RIDES] ?? []
      console.log(e.payload.isLeader, e.payload.leaderId, e.payload.groupProtocol, e.payload.duration, mine)
    }),
    consumer.on(events.FETCH_START, (e) => console.log(e.payload.nodeId)),
    consumer.on(events.FETCH, (e) => console.log(e.payload.numberOfBatches, e.payload.duration)),
    consumer.on(events.START_BATCH_PROCESS, (e) => console.log(e.payload.topic, e.payload.batchSize, e.payload.firstOffset)),
    consumer.on(events.END_BATCH_PROCESS, (e) => console.log(e.payload.lastOffset, e.payload.offsetLag, e.payload.duration)),
    consumer.on(events.CRASH, (e: ConsumerCrashEvent) => console.log(e.payload.error.message, e.payload.restart)),
    consumer.on(events.REBALANCING, (e) => console.log(e.payload.memberId)),
    consumer.on(events.STOP, (e) => console.log('stopped', e.timestamp)),
    consumer.on(events.CONNECT, () => undefined),
    consumer.on(events.DISCONNECT, () => undefined),
    consumer.on(events.RECEIVED_UNSUBSCRIBED_TOPICS, (e) => console.log(e.payload.topicsNotSubscribed)),
    consumer.on(events.REQUEST_TIMEOUT, (e) => console.log(e.payload.broker)),
    consumer.on(events.REQUEST_QUEUE_SIZE, (e) => console.log(e.payload.queueSize)),
  ]
  // A listener written for any event, as kafkajs's InstrumentationEvent<any>.
  const anyName: Consumer['events'][keyof Consumer['events']] = events.FETCH
  consumer.on(anyName, (e: InstrumentationEvent<any>) => console.log(e.type))
  // @ts-expect-error a heartbeat has no batch fields
  consumer.on(events.HEARTBEAT, (e) => console.log(e.payload.batchSize))
  for (const remove of removers) remove()
  consumer.logger().warn('listeners removed', { count: removers.length })
}

// --- Assigners -------------------------------------------------------------------------------

function assignerProtocol(): void {
  const metadata: MemberMetadata = { version: 1, topics: [RIDES], userData: Buffer.alloc(0) }
  const encoded: Buffer = AssignerProtocol.MemberMetadata.encode(metadata)
  const decoded: MemberMetadata | null = AssignerProtocol.MemberMetadata.decode(encoded)
  const assignment: MemberAssignment = { version: 1, assignment: { [RIDES]: [0, 2] }, userData: Buffer.from('zone-a') }
  const back = AssignerProtocol.MemberAssignment.decode(AssignerProtocol.MemberAssignment.encode(assignment))
  console.log(decoded?.topics, back?.assignment[RIDES], PartitionAssigners.roundRobin.samsaName)
}

// --- Errors ----------------------------------------------------------------------------------

function errors(): KafkaJSError[] {
  const meta: PartitionMetadata = { partitionErrorCode: 0, partitionId: 1, leader: 0, replicas: [0], isr: [0] }
  const protocolFields = { message: 'Offset out of range', type: 'OFFSET_OUT_OF_RANGE', code: 1, retriable: false }
  const out: KafkaJSError[] = [
    new KafkaJSError('disk busy'),
    new KafkaJSError(new Error('wrapped'), { retriable: false, cause: new Error('root') }),
    new KafkaJSError('stale leader', { retriable: true, topic: RIDES, partitionId: 1, metadata: meta }),
    new KafkaJSNonRetriableError('bad input', { cause: new TypeError('x') }),
    new KafkaJSProtocolError(protocolFields),
    new KafkaJSProtocolError(protocolFields, { retriable: true }),
    new KafkaJSOffsetOutOfRange(protocolFields, { topic: RIDES, partition: 1 }),
    new KafkaJSNumberOfRetriesExceeded(new Error('gave up'), { retryCount: 5, retryTime: 3_000 }),
    new KafkaJSConnectionError('refused', { broker: 'localhost:9092', code: 'ECONNREFUSED' }),
    new KafkaJSConnectionError('refused', { code: 'ECONNRESET' }),
    new KafkaJSConnectionClosedError('closed', { host: 'localhost', port: 9092 }),
    new KafkaJSRequestTimeoutError('timed out', { broker: 'localhost:9092', clientId: 'rider-app', correlationId: 3, createdAt: 1, sentAt: 2, pendingDuration: 1 }),
    new KafkaJSTopicMetadataNotLoaded('not loaded', { topic: RIDES }),
    new KafkaJSStaleTopicMetadataAssignment('stale', { topic: RIDES, unknownPartitions: [meta] }),
    new KafkaJSServerDoesNotSupportApiKey('unsupported', { apiKey: 0, apiName: 'Produce' }),
    new KafkaJSMemberIdRequired(protocolFields, { memberId: 'm-1' }),
    new KafkaJSCreateTopicError(protocolFields, RIDES),
    new KafkaJSAlterPartitionReassignmentsError(protocolFields, RIDES, 0),
    new KafkaJSDeleteGroupsError('not empty', [{ groupId: 'db-writer', errorCode: 68, error: new KafkaJSError('busy') }]),
    new KafkaJSDeleteTopicRecordsError({ topic: RIDES, partitions: [{ partition: 0, offset: '5', error: new KafkaJSError('later') }] }),
    new KafkaJSNotImplemented('no transactions'),
    new KafkaJSMetadataNotLoaded('no metadata'),
    new KafkaJSLockTimeout('locked'),
  ]
  const aggregate = new KafkaJSAggregateError('several failed', [new Error('a'), 'b'])
  // @ts-expect-error retry counts are numbers
  new KafkaJSNumberOfRetriesExceeded(new Error('x'), { retryCount: '5', retryTime: 0 })
  // @ts-expect-error a connection error's code is a string
  new KafkaJSConnectionError('x', { code: 111 })
  console.log(aggregate.errors.length)
  return out
}

function inspect(e: unknown): string {
  if (e instanceof KafkaJSOffsetOutOfRange) return `${e.type}(${e.code}) ${e.topic}/${e.partition}`
  if (e instanceof KafkaJSProtocolError) return `${e.type} retriable=${e.retriable}`
  if (e instanceof KafkaJSNumberOfRetriesExceeded) return `${e.retryCount} retries in ${e.retryTime} ms: ${e.cause?.message}`
  if (e instanceof KafkaJSConnectionClosedError) return `${e.broker} ${e.host}:${e.port}`
  if (e instanceof KafkaJSConnectionError) return `${e.broker} ${e.code}`
  if (e instanceof KafkaJSRequestTimeoutError) return `${e.broker} #${e.correlationId} ${e.pendingDuration}`
  if (e instanceof KafkaJSStaleTopicMetadataAssignment) return `${e.topic} ${e.unknownPartitions.map((p) => p.partitionId)}`
  if (e instanceof KafkaJSServerDoesNotSupportApiKey) return `${e.apiName}(${e.apiKey})`
  if (e instanceof KafkaJSDeleteGroupsError) return e.groups.map((g) => `${g.groupId}:${g.error.message}`).join()
  if (e instanceof KafkaJSDeleteTopicRecordsError) return e.partitions.map((p) => `${p.partition}@${p.offset}`).join()
  if (e instanceof KafkaJSLockTimeout || e instanceof KafkaJSTimeout) return e.name
  if (e instanceof KafkaJSError) return `${e.name}: ${e.message} (${e.helpUrl ?? 'no help'})`
  return String(e)
}

// --- samsa's own ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const [kafka] = clients()
  if (!kafka) return
  logging(kafka)
  await serveAndVerify(kafka)
  const admin = kafka.admin({ retry: { retries: 1 } })
  adminEvents(admin)
  await topicAdmin(admin)
  await groupAdmin(admin)
  await aclAdmin(admin)
  const sent = await produce(kafka)
  await transfer(kafka.producer()).catch((e: unknown) => console.log(inspect(e)))
  codecs()
  const consumer = consumers(kafka)
  consumerEvents(consumer)
  await consumer.run({ eachMessage: writeRow })
  await consume(consumer)
  assignerProtocol()
  console.log(sent.length, errors().map(inspect))
  await admin.disconnect()
  // Disconnects every client of this Kafka object and releases the data directory.
  await kafka.close()
}

void main
