// samsa: kafkajs's API over an embedded, durable, partitioned log.
/// <reference types="node" />

export type Logger = {
  info: (message: string, extra?: object) => void
  error: (message: string, extra?: object) => void
  warn: (message: string, extra?: object) => void
  debug: (message: string, extra?: object) => void
  namespace: (namespace: string, logLevel?: logLevel) => Logger
  setLogLevel: (logLevel: logLevel) => void
}

export enum logLevel {
  NOTHING = 0,
  ERROR = 1,
  WARN = 2,
  INFO = 4,
  DEBUG = 5,
}

export type LogEntry = {
  namespace: string
  level: logLevel
  label: string
  log: { timestamp: string; message: string; [key: string]: any }
}
export type logCreator = (logLevel: logLevel) => (entry: LogEntry) => void

export interface RetryOptions {
  maxRetryTime?: number
  initialRetryTime?: number
  factor?: number
  multiplier?: number
  retries?: number
  restartOnFailure?: (e: Error) => Promise<boolean>
}

export interface KafkaConfig {
  clientId?: string
  /** Where the log lives. Default: `./.samsa` under the current working directory. */
  dataDir?: string
  /** Accepted so kafkajs code runs unchanged; the embedded broker ignores it (with a warning). */
  brokers?: string[] | (() => string[] | Promise<string[]>)
  logLevel?: logLevel
  logCreator?: logCreator
  retry?: RetryOptions
  /** false (default): a send is acknowledged once written to the OS; true: once fsynced (group commit). */
  fsync?: boolean
  /** Kafka's `segment.bytes` for every topic (default 1 GiB). */
  segmentBytes?: number
  /** Kafka's `segment.ms` (default 7 days). */
  segmentMs?: number
  /** Kafka's `retention.ms` (default 7 days; -1 keeps everything). */
  retentionMs?: number
  /** Kafka's `retention.bytes` per partition (default -1: no size limit). */
  retentionBytes?: number
  /** Kafka's `max.message.bytes` (default 1 MiB). */
  maxMessageBytes?: number
  /** Kafka's `auto.create.topics.enable` (default true). */
  autoCreateTopics?: boolean
  /** Kafka's `num.partitions`: partitions of topics created without a count (default 1). */
  defaultNumPartitions?: number
  /** How often retention runs (Kafka's `log.retention.check.interval.ms`, default 5 minutes). */
  retentionCheckIntervalMs?: number
  [key: string]: any
}

export class Kafka {
  constructor(config?: KafkaConfig)
  producer(config?: ProducerConfig): Producer
  consumer(config: ConsumerConfig): Consumer
  admin(config?: AdminConfig): Admin
  logger(): Logger
  /** Disconnects this object's clients; the broker flushes and releases the data directory once unused. */
  close(): Promise<void>
}

export type PartitionMetadata = {
  partitionErrorCode: number
  partitionId: number
  leader: number
  replicas: number[]
  isr: number[]
  offlineReplicas?: number[]
}

export type IHeaders = { [key: string]: Buffer | string | (Buffer | string)[] | undefined }

export interface Message {
  key?: Buffer | string | null
  value: Buffer | string | null
  partition?: number
  headers?: IHeaders
  timestamp?: string
}

export interface PartitionerArgs {
  topic: string
  partitionMetadata: PartitionMetadata[]
  message: Message
}
export type ICustomPartitioner = () => (args: PartitionerArgs) => number
export type DefaultPartitioner = ICustomPartitioner
export type LegacyPartitioner = ICustomPartitioner

export const Partitioners: {
  DefaultPartitioner: DefaultPartitioner
  LegacyPartitioner: LegacyPartitioner
  /** @deprecated Use DefaultPartitioner instead */
  JavaCompatiblePartitioner: DefaultPartitioner
}

export enum CompressionTypes {
  None = 0,
  GZIP = 1,
  Snappy = 2,
  LZ4 = 3,
  ZSTD = 4,
}

/** Registering a codec changes nothing: GZIP is built in, other codecs get KafkaJSNotImplemented. */
export const CompressionCodecs: { [type in CompressionTypes]?: () => any }

export enum AclResourceTypes { UNKNOWN = 0, ANY = 1, TOPIC = 2, GROUP = 3, CLUSTER = 4, TRANSACTIONAL_ID = 5, DELEGATION_TOKEN = 6 }
export enum AclOperationTypes {
  UNKNOWN = 0, ANY = 1, ALL = 2, READ = 3, WRITE = 4, CREATE = 5, DELETE = 6, ALTER = 7, DESCRIBE = 8,
  CLUSTER_ACTION = 9, DESCRIBE_CONFIGS = 10, ALTER_CONFIGS = 11, IDEMPOTENT_WRITE = 12,
}
export enum AclPermissionTypes { UNKNOWN = 0, ANY = 1, DENY = 2, ALLOW = 3 }
export enum ResourcePatternTypes { UNKNOWN = 0, ANY = 1, MATCH = 2, LITERAL = 3, PREFIXED = 4 }

export interface ProducerConfig {
  createPartitioner?: ICustomPartitioner
  retry?: RetryOptions
  allowAutoTopicCreation?: boolean
  idempotent?: boolean
  /** Transactions are not supported yet: setting this throws KafkaJSNotImplemented. */
  transactionalId?: string
  transactionTimeout?: number
  maxInFlightRequests?: number
}

export interface ProducerRecord {
  topic: string
  messages: Message[]
  acks?: number
  timeout?: number
  compression?: CompressionTypes
}

export interface TopicMessages {
  topic: string
  messages: Message[]
}

export interface ProducerBatch {
  acks?: number
  timeout?: number
  compression?: CompressionTypes
  topicMessages?: TopicMessages[]
}

export type RecordMetadata = {
  topicName: string
  partition: number
  errorCode: number
  offset?: string
  timestamp?: string
  baseOffset?: string
  logAppendTime?: string
  logStartOffset?: string
}

export type InstrumentationEvent<T> = { id: string; type: string; timestamp: number; payload: T }
export type RemoveInstrumentationEventListener<T> = () => void

export type ProducerEvents = {
  CONNECT: 'producer.connect'
  DISCONNECT: 'producer.disconnect'
  REQUEST: 'producer.network.request'
  REQUEST_TIMEOUT: 'producer.network.request_timeout'
  REQUEST_QUEUE_SIZE: 'producer.network.request_queue_size'
}

export type Producer = {
  connect(): Promise<void>
  disconnect(): Promise<void>
  isIdempotent(): boolean
  readonly events: ProducerEvents
  on(eventName: ProducerEvents[keyof ProducerEvents], listener: (event: InstrumentationEvent<any>) => void): RemoveInstrumentationEventListener<any>
  send(record: ProducerRecord): Promise<RecordMetadata[]>
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>
  logger(): Logger
  transaction(): Promise<never>
}

export interface AdminConfig {
  retry?: RetryOptions
}

export interface IResourceConfigEntry {
  name: string
  value: string
}

export interface ITopicConfig {
  topic: string
  numPartitions?: number
  replicationFactor?: number
  replicaAssignment?: object[]
  configEntries?: IResourceConfigEntry[]
}

export interface ITopicPartitionConfig {
  topic: string
  count: number
  assignments?: Array<Array<number>>
}

export interface ITopicMetadata {
  name: string
  partitions: PartitionMetadata[]
}

export enum ConfigResourceTypes {
  UNKNOWN = 0,
  TOPIC = 2,
  BROKER = 4,
  BROKER_LOGGER = 8,
}

export enum ConfigSource {
  UNKNOWN = 0,
  TOPIC_CONFIG = 1,
  DYNAMIC_BROKER_CONFIG = 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG = 3,
  STATIC_BROKER_CONFIG = 4,
  DEFAULT_CONFIG = 5,
  DYNAMIC_BROKER_LOGGER_CONFIG = 6,
}

export interface ResourceConfigQuery {
  type: ConfigResourceTypes
  name: string
  configNames?: string[]
}

export interface ConfigEntries {
  configName: string
  configValue: string
  isDefault: boolean
  configSource: ConfigSource
  isSensitive: boolean
  readOnly: boolean
  configSynonyms: { configName: string; configValue: string; configSource: ConfigSource }[]
}

export interface DescribeConfigResponse {
  resources: {
    configEntries: ConfigEntries[]
    errorCode: number
    errorMessage: string | null
    resourceName: string
    resourceType: ConfigResourceTypes
  }[]
  throttleTime: number
}

export interface IResourceConfig {
  type: ConfigResourceTypes
  name: string
  configEntries: IResourceConfigEntry[]
}

export type AdminEvents = {
  CONNECT: 'admin.connect'
  DISCONNECT: 'admin.disconnect'
  REQUEST: 'admin.network.request'
  REQUEST_TIMEOUT: 'admin.network.request_timeout'
  REQUEST_QUEUE_SIZE: 'admin.network.request_queue_size'
}

export type Admin = {
  connect(): Promise<void>
  disconnect(): Promise<void>
  listTopics(): Promise<string[]>
  createTopics(options: { validateOnly?: boolean; waitForLeaders?: boolean; timeout?: number; topics: ITopicConfig[] }): Promise<boolean>
  deleteTopics(options: { topics: string[]; timeout?: number }): Promise<void>
  createPartitions(options: { validateOnly?: boolean; timeout?: number; topicPartitions: ITopicPartitionConfig[] }): Promise<void>
  fetchTopicMetadata(options?: { topics: string[] }): Promise<{ topics: Array<ITopicMetadata> }>
  fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; offset: string; high: string; low: string }>>
  fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<Array<{ partition: number; offset: string }>>
  deleteTopicRecords(options: { topic: string; partitions: { partition: number; offset: string }[] }): Promise<void>
  describeCluster(): Promise<{ brokers: Array<{ nodeId: number; host: string; port: number }>; controller: number | null; clusterId: string }>
  describeConfigs(configs: { resources: ResourceConfigQuery[]; includeSynonyms: boolean }): Promise<DescribeConfigResponse>
  alterConfigs(configs: { validateOnly: boolean; resources: IResourceConfig[] }): Promise<any>
  listGroups(): Promise<{ groups: { groupId: string; protocolType: string }[] }>
  describeGroups(groupIds: string[]): Promise<{ groups: GroupDescription[] }>
  deleteGroups(groupIds: string[]): Promise<{ groupId: string; errorCode: number }[]>
  fetchOffsets(options: { groupId: string; topics?: string[]; resolveOffsets?: boolean }): Promise<Array<{ topic: string; partitions: { partition: number; offset: string; metadata: string | null }[] }>>
  setOffsets(options: { groupId: string; topic: string; partitions: { partition: number; offset: string }[] }): Promise<void>
  resetOffsets(options: { groupId: string; topic: string; earliest: boolean }): Promise<void>
  /** ACLs do not apply to an embedded broker: these reject with KafkaJSNotImplemented. */
  createAcls(options: any): Promise<never>
  describeAcls(options: any): Promise<never>
  deleteAcls(options: any): Promise<never>
  /** One broker leads every partition: reassignment rejects with KafkaJSNotImplemented. */
  alterPartitionReassignments(options: any): Promise<never>
  listPartitionReassignments(options?: any): Promise<{ topics: [] }>
  logger(): Logger
  readonly events: AdminEvents
  on(eventName: AdminEvents[keyof AdminEvents], listener: (event: InstrumentationEvent<any>) => void): RemoveInstrumentationEventListener<any>
}

export type PartitionAssigner = (() => { name: string }) & { samsaName: string }
export const PartitionAssigners: { roundRobin: PartitionAssigner; range: PartitionAssigner }

export interface ConsumerConfig {
  groupId: string
  partitionAssigners?: PartitionAssigner[]
  /** A member not heard from for this long is removed from the group (default 30000). */
  sessionTimeout?: number
  /** A handler running longer than this on one message or batch loses its partitions (default 60000). */
  rebalanceTimeout?: number
  /** How often the run loop signals liveness by itself (default 3000). */
  heartbeatInterval?: number
  metadataMaxAge?: number
  allowAutoTopicCreation?: boolean
  maxBytesPerPartition?: number
  minBytes?: number
  maxBytes?: number
  maxWaitTimeInMs?: number
  retry?: RetryOptions
  readUncommitted?: boolean
  maxInFlightRequests?: number
  rackId?: string
}

export interface ConsumerSubscribeTopics {
  topics: (string | RegExp)[]
  fromBeginning?: boolean
}
export interface ConsumerSubscribeTopic {
  topic: string | RegExp
  fromBeginning?: boolean
}

export type KafkaMessage = {
  key: Buffer | null
  value: Buffer | null
  timestamp: string
  attributes: number
  offset: string
  size?: number
  headers?: { [key: string]: Buffer | string | (Buffer | string)[] | undefined }
}

export interface Batch {
  topic: string
  partition: number
  highWatermark: string
  messages: KafkaMessage[]
  isEmpty(): boolean
  firstOffset(): string | null
  lastOffset(): string
  offsetLag(): string
  offsetLagLow(): string
}

export interface EachMessagePayload {
  topic: string
  partition: number
  message: KafkaMessage
  heartbeat(): Promise<void>
  pause(): () => void
}

export type TopicOffsets = { topic: string; partitions: { partition: number; offset: string }[] }
export type Offsets = { topics: TopicOffsets[] }

export interface EachBatchPayload {
  batch: Batch
  resolveOffset(offset: string): void
  heartbeat(): Promise<void>
  pause(): () => void
  commitOffsetsIfNecessary(offsets?: Offsets): Promise<void>
  uncommittedOffsets(): Offsets
  isRunning(): boolean
  isStale(): boolean
}

export type EachMessageHandler = (payload: EachMessagePayload) => Promise<void>
export type EachBatchHandler = (payload: EachBatchPayload) => Promise<void>

export type ConsumerRunConfig = {
  autoCommit?: boolean
  autoCommitInterval?: number | null
  autoCommitThreshold?: number | null
  eachBatchAutoResolve?: boolean
  partitionsConsumedConcurrently?: number
  eachBatch?: EachBatchHandler
  eachMessage?: EachMessageHandler
}

export type TopicPartitions = { topic: string; partitions: number[] }
export type TopicPartitionOffsetAndMetadata = { topic: string; partition: number; offset: string; metadata?: string | null }

export type GroupDescription = {
  groupId: string
  members: { memberId: string; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer; assignment: { [topic: string]: number[] } }[]
  protocol: string
  protocolType: string
  state: string
  errorCode: number
}

export type ConsumerEvents = {
  HEARTBEAT: 'consumer.heartbeat'
  COMMIT_OFFSETS: 'consumer.commit_offsets'
  GROUP_JOIN: 'consumer.group_join'
  FETCH_START: 'consumer.fetch_start'
  FETCH: 'consumer.fetch'
  START_BATCH_PROCESS: 'consumer.start_batch_process'
  END_BATCH_PROCESS: 'consumer.end_batch_process'
  CONNECT: 'consumer.connect'
  DISCONNECT: 'consumer.disconnect'
  STOP: 'consumer.stop'
  CRASH: 'consumer.crash'
  REBALANCING: 'consumer.rebalancing'
  RECEIVED_UNSUBSCRIBED_TOPICS: 'consumer.received_unsubscribed_topics'
  REQUEST: 'consumer.network.request'
  REQUEST_TIMEOUT: 'consumer.network.request_timeout'
  REQUEST_QUEUE_SIZE: 'consumer.network.request_queue_size'
}

export type Consumer = {
  connect(): Promise<void>
  disconnect(): Promise<void>
  subscribe(subscription: ConsumerSubscribeTopics | ConsumerSubscribeTopic): Promise<void>
  stop(): Promise<void>
  run(config?: ConsumerRunConfig): Promise<void>
  commitOffsets(topicPartitions: Array<TopicPartitionOffsetAndMetadata>): Promise<void>
  seek(topicPartitionOffset: { topic: string; partition: number; offset: string }): void
  describeGroup(): Promise<GroupDescription>
  pause(topics: Array<{ topic: string; partitions?: number[] }>): void
  paused(): TopicPartitions[]
  resume(topics: Array<{ topic: string; partitions?: number[] }>): void
  on(eventName: ConsumerEvents[keyof ConsumerEvents], listener: (event: InstrumentationEvent<any>) => void): RemoveInstrumentationEventListener<any>
  logger(): Logger
  readonly events: ConsumerEvents
}

export class KafkaJSError extends Error {
  readonly message: string
  readonly name: string
  readonly retriable: boolean
  readonly helpUrl?: string
  readonly cause?: Error
  constructor(e: Error | string, metadata?: { retriable?: boolean; cause?: Error })
}
export class KafkaJSNonRetriableError extends KafkaJSError {
  constructor(e: Error | string, metadata?: { cause?: Error })
}
export class KafkaJSProtocolError extends KafkaJSError {
  readonly code: number
  readonly type: string
  constructor(e: Error | string | { message: string; type: string; code: number; retriable: boolean })
}
export class KafkaJSOffsetOutOfRange extends KafkaJSProtocolError {
  readonly topic: string
  readonly partition: number
}
export class KafkaJSNumberOfRetriesExceeded extends KafkaJSNonRetriableError {
  readonly retryCount: number
  readonly retryTime: number
}
export class KafkaJSConnectionError extends KafkaJSError {
  readonly broker: string
}
export class KafkaJSTopicMetadataNotLoaded extends KafkaJSError {
  readonly topic: string
}
export class KafkaJSNotImplemented extends KafkaJSNonRetriableError {}
export class KafkaJSTimeout extends KafkaJSNonRetriableError {}
export class KafkaJSCreateTopicError extends KafkaJSProtocolError {
  readonly topic: string
}
export class KafkaJSAggregateError extends Error {
  readonly errors: (Error | string)[]
}
export class KafkaJSPartialMessageError extends KafkaJSNonRetriableError {}
export class KafkaJSBrokerNotFound extends KafkaJSError {}
export class KafkaJSConnectionClosedError extends KafkaJSConnectionError {}
export class KafkaJSRequestTimeoutError extends KafkaJSError {}
export class KafkaJSSASLAuthenticationError extends KafkaJSNonRetriableError {}
export class KafkaJSMemberIdRequired extends KafkaJSProtocolError {
  readonly memberId: string
}
export class KafkaJSGroupCoordinatorNotFound extends KafkaJSNonRetriableError {}
export class KafkaJSMetadataNotLoaded extends KafkaJSError {}
export class KafkaJSStaleTopicMetadataAssignment extends KafkaJSError {}
export class KafkaJSLockTimeout extends KafkaJSTimeout {}
export class KafkaJSServerDoesNotSupportApiKey extends KafkaJSNonRetriableError {}
export class KafkaJSUnsupportedMagicByteInMessageSet extends KafkaJSNonRetriableError {}
export class KafkaJSInvariantViolation extends KafkaJSNonRetriableError {}
export class KafkaJSInvalidVarIntError extends KafkaJSNonRetriableError {}
export class KafkaJSInvalidLongError extends KafkaJSNonRetriableError {}
export class KafkaJSNoBrokerAvailableError extends KafkaJSError {}
export class KafkaJSFetcherRebalanceError extends Error {}
export class KafkaJSAlterPartitionReassignmentsError extends KafkaJSProtocolError {
  readonly topic?: string
  readonly partition?: number
}
export class KafkaJSDeleteGroupsError extends KafkaJSError {
  readonly groups: { groupId: string; errorCode: number; error: KafkaJSError }[]
}
export class KafkaJSDeleteTopicRecordsError extends KafkaJSError {
  readonly partitions: { partition: number; offset: string; error: KafkaJSProtocolError }[]
}
