// samsa: kafkajs's API over an embedded, durable, partitioned log.
/// <reference types="node" />

import type { ConnectionOptions } from 'tls'

type ValueOf<T> = T[keyof T]

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

export interface LoggerEntryContent {
  readonly timestamp: string
  readonly message: string
  [key: string]: any
}

export type LogEntry = {
  namespace: string
  level: logLevel
  label: string
  log: LoggerEntryContent
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

export type BrokersFunction = () => string[] | Promise<string[]>

export type SASLOptions =
  | { mechanism: 'plain'; username: string; password: string }
  | { mechanism: 'scram-sha-256'; username: string; password: string }
  | { mechanism: 'scram-sha-512'; username: string; password: string }
  | { mechanism: 'aws'; authorizationIdentity: string; accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | { mechanism: 'oauthbearer'; oauthBearerProvider: () => Promise<{ value: string }> }

/** A custom SASL mechanism, as kafkajs takes it (samsa does not use it). */
export type Mechanism = {
  mechanism: string
  authenticationProvider: (args: any) => { authenticate: () => Promise<void> }
}

export interface KafkaConfig {
  clientId?: string
  /** Where the log lives. Default: `./.samsa` under the current working directory. */
  dataDir?: string
  /** Accepted so kafkajs code runs unchanged; the embedded broker ignores it (with a warning). */
  brokers?: string[] | BrokersFunction
  /** Accepted so kafkajs code runs unchanged; there is no connection to secure, so it is not used. */
  ssl?: ConnectionOptions | boolean
  /** Accepted so kafkajs code runs unchanged; there is no connection to authenticate, so it is not used. */
  sasl?: SASLOptions | Mechanism
  logLevel?: logLevel
  logCreator?: logCreator
  retry?: RetryOptions
  /** How long a request to another process that owns `dataDir` waits for its answer, in ms
   * (default 30000); then it fails with a retriable KafkaJSRequestTimeoutError. Calls in the
   * owner's own process are not requests and never time out. A process's connection to
   * the owner is shared by its Kafka objects on that directory: the first one's value holds. */
  requestTimeout?: number
  /** false: requests to another process that owns `dataDir` wait for their answer however
   * long it takes, as kafkajs's enforceRequestTimeout: false (default true). */
  enforceRequestTimeout?: boolean
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
  /** The most segment files kept open at once (default: half the process's descriptor limit, 16 to 8192). */
  maxOpenFiles?: number
  /** How long the log cleaner of compacted topics sleeps when no log needs cleaning, in ms
   * (Kafka's `log.cleaner.backoff.ms`, default 15000). */
  cleanerBackoffMs?: number
  /** The most memory one cleaning pass's key map takes, in bytes, at least 1 MiB (Kafka's
   * `log.cleaner.dedupe.buffer.size`, default 128 MiB). */
  cleanerDedupeBufferSize?: number
  /** The cleaner's disk reads and writes per second, in bytes (Kafka's
   * `log.cleaner.io.max.bytes.per.second`; default 0: unthrottled). */
  cleanerIoMaxBytesPerSecond?: number
  [key: string]: any
}

/** Where `kafka.listen()` serves the Kafka wire protocol (samsa's own). */
export interface ListenOptions {
  /** Default 9092; 0 picks a free port. */
  port?: number
  /** Default '127.0.0.1' (loopback); any other host must be asked for. */
  host?: string
  /** The address clients are told to connect to, when it is not the bound one. With a
   * host of every interface ('0.0.0.0' or '::') it defaults to this machine's first
   * non-loopback address. */
  advertisedHost?: string
  advertisedPort?: number
  /** The largest request accepted (Kafka's `socket.request.max.bytes`; default 100 MiB). */
  maxRequestBytes?: number
  /** The bytes requests being read or handled may hold together beyond the first 64 KiB
   * of each (Kafka's `queued.max.request.bytes`; default 200 MiB, at least
   * maxRequestBytes). */
  maxQueuedRequestBytes?: number
  /** Connections open at once (Kafka's `max.connections`; default 1000). A new one past
   * it takes the place of the one that has gone longest without a request. */
  maxConnections?: number
  /** A connection idle this long between requests is closed (Kafka's
   * `connections.max.idle.ms`; default 600000). */
  idleTimeoutMs?: number
  /** A request must arrive whole within this from its first byte, and a new connection
   * must send its first within this of connecting (default 10000). */
  requestReadTimeoutMs?: number
}

/** Damage found by `kafka.verify()`: bytes of a partition's log that are not valid batches. */
export interface VerifyDamage {
  topic: string
  partition: number
  file: string
  position: number
  firstOffset: number
  /** Below firstOffset when the damage hides no record. */
  lastOffset: number
  detail: string
}

export interface ConsoleOptions {
  /** Default 9080; 0 picks a free port. */
  port?: number
  /** Default '127.0.0.1' (loopback); any other host must be asked for. */
  host?: string
  /** Default false: read-only. True lets the pages produce a test message, reset an empty
   * group's offsets and delete records. */
  allowWrites?: boolean
}

/** A console being served (kafka.console()). */
export interface SamsaConsole {
  /** Where the pages are, e.g. 'http://127.0.0.1:9080/'. */
  url: string
  host: string
  port: number
  allowWrites: boolean
  /** Stops this console (kafka.close() stops it too). */
  close(): Promise<void>
}

export interface VerifyReport {
  /** No damage and no hanging transaction left. */
  ok: boolean
  partitions: number
  segments: number
  batches: number
  bytes: number
  damage: VerifyDamage[]
  /** Index entries that do not match the log (indexes are hints; data is not affected). */
  indexProblems: string[]
  /** Bytes after the last batch of a torn write, cut off when the directory next opens. */
  tornTails: string[]
  /** With repair: per damaged partition, the offsets given up by cutting it at its first damage. */
  repaired: { topic: string; partition: number; firstOffset: number; lastOffset: number }[]
  /** Transaction markers (control batches) found. */
  markers: number
  /** Closed directories: transactions with records and no marker that transactions.log does
   * not know as open; they hold read-committed consumers back. Repair aborts them. */
  hangingTransactions: { topic: string; partition: number; producerId: number; firstOffset: number; aborted: boolean }[]
}

export class Kafka {
  constructor(config?: KafkaConfig)
  producer(config?: ProducerConfig): Producer
  consumer(config: ConsumerConfig): Consumer
  admin(config?: AdminConfig): Admin
  logger(): Logger
  /** Disconnects this object's clients; the broker flushes and releases the data directory once unused. */
  close(): Promise<void>
  /**
   * Serves the Kafka wire protocol from this data directory's broker, beside this process's own
   * clients, until `close()` (samsa's own). Resolves to the address clients are told to use.
   */
  listen(options?: ListenOptions): Promise<{ host: string; port: number }>
  /**
   * Checks every batch's CRC and offsets and every index entry (samsa's own). `repair: true`
   * (closed data directories only) cuts each damaged partition at its first damage.
   */
  verify(options?: { repair?: boolean }): Promise<VerifyReport>
  /**
   * Serves the samsa console of this data directory: topics, groups, lag and messages in
   * the browser, beside this process's own clients, until `close()` (samsa's own).
   * Read-only unless `allowWrites` is true.
   */
  console(options?: ConsoleOptions): Promise<SamsaConsole>
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
  /** A transactional producer's id: `transaction()` then runs Kafka's transactions. */
  transactionalId?: string
  /** How long a transaction may stay open before the broker aborts it (60000 ms). */
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

/** `connect`/`disconnect` events carry no payload (undefined, as in kafkajs at runtime). */
export type ConnectEvent = InstrumentationEvent<undefined>
export type DisconnectEvent = InstrumentationEvent<undefined>
type NetworkRequestInfo = {
  apiKey: number
  apiName: string
  apiVersion: number
  broker: string
  clientId: string
  correlationId: number
  createdAt: number
  pendingDuration: number
  sentAt: number
}
/** kafkajs's network events. samsa has no network between client and broker: it never emits them. */
export type RequestEvent = InstrumentationEvent<NetworkRequestInfo & { duration: number; size: number }>
/** Never emitted by samsa (see RequestEvent). */
export type RequestTimeoutEvent = InstrumentationEvent<NetworkRequestInfo>
/** Never emitted by samsa (see RequestEvent). */
export type RequestQueueSizeEvent = InstrumentationEvent<{ broker: string; clientId: string; queueSize: number }>

/** The events every client has, by name suffix. */
type ClientEventTypes = {
  CONNECT: ConnectEvent
  DISCONNECT: DisconnectEvent
  REQUEST: RequestEvent
  REQUEST_TIMEOUT: RequestTimeoutEvent
  REQUEST_QUEUE_SIZE: RequestQueueSizeEvent
}

/** The event a listener for `name` receives, given a client's events object and its payload types. */
type EventFor<Events, Types, Name> = ValueOf<{ [K in keyof Events & keyof Types]: Events[K] extends Name ? Types[K] : never }>

export type ProducerEvents = {
  CONNECT: 'producer.connect'
  DISCONNECT: 'producer.disconnect'
  REQUEST: 'producer.network.request'
  REQUEST_TIMEOUT: 'producer.network.request_timeout'
  REQUEST_QUEUE_SIZE: 'producer.network.request_queue_size'
}

export type Sender = {
  send(record: ProducerRecord): Promise<RecordMetadata[]>
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>
}

/** kafkajs's transaction: its records and offsets become visible to read-committed
 * consumers together on `commit()`, or never (`abort()`). */
export type Transaction = Sender & {
  sendOffsets(offsets: Offsets & { consumerGroupId: string }): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
  isActive(): boolean
}

export type Producer = Sender & {
  connect(): Promise<void>
  disconnect(): Promise<void>
  isIdempotent(): boolean
  readonly events: ProducerEvents
  on<E extends ValueOf<ProducerEvents>>(
    eventName: E,
    listener: (event: EventFor<ProducerEvents, ClientEventTypes, E>) => void
  ): RemoveInstrumentationEventListener<E>
  logger(): Logger
  /** Begins a transaction (the producer needs a `transactionalId`). */
  transaction(): Promise<Transaction>
}

export interface AdminConfig {
  retry?: RetryOptions
}

export interface IResourceConfigEntry {
  name: string
  value: string
}

export interface ReplicaAssignment {
  partition: number
  replicas: Array<number>
}

export interface ITopicConfig {
  topic: string
  numPartitions?: number
  replicationFactor?: number
  replicaAssignment?: ReplicaAssignment[]
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
  configSynonyms: ConfigSynonyms[]
}

export interface ConfigSynonyms {
  configName: string
  configValue: string
  configSource: ConfigSource
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

export interface PartitionOffset {
  partition: number
  offset: string
}
export type SeekEntry = PartitionOffset
export type FetchOffsetsPartition = PartitionOffset & { metadata: string | null }

export type GroupOverview = { groupId: string; protocolType: string }
export type DeleteGroupsResult = { groupId: string; errorCode?: number; error?: KafkaJSProtocolError }

// kafkajs's ACL shapes. samsa has no ACLs (the broker runs inside your process, with its
// permissions): the admin ACL methods take and promise these shapes, and always reject.
export interface Acl {
  principal: string
  host: string
  operation: AclOperationTypes
  permissionType: AclPermissionTypes
}
export interface AclResource {
  resourceType: AclResourceTypes
  resourceName: string
  resourcePatternType: ResourcePatternTypes
}
export type AclEntry = Acl & AclResource
export type DescribeAclResource = AclResource & { acls: Acl[] }
export interface DescribeAclResponse {
  throttleTime: number
  errorCode: number
  errorMessage?: string
  resources: DescribeAclResource[]
}
export interface AclFilter {
  resourceType: AclResourceTypes
  resourceName?: string
  resourcePatternType: ResourcePatternTypes
  principal?: string
  host?: string
  operation: AclOperationTypes
  permissionType: AclPermissionTypes
}
export interface MatchingAcl {
  errorCode: number
  errorMessage?: string
  resourceType: AclResourceTypes
  resourceName: string
  resourcePatternType: ResourcePatternTypes
  principal: string
  host: string
  operation: AclOperationTypes
  permissionType: AclPermissionTypes
}
export interface DeleteAclFilterResponses {
  errorCode: number
  errorMessage?: string
  matchingAcls: MatchingAcl[]
}
export interface DeleteAclResponse {
  throttleTime: number
  filterResponses: DeleteAclFilterResponses[]
}

export interface PartitionReassignment {
  topic: string
  partitionAssignment: Array<ReplicaAssignment>
}
export interface OngoingPartitionReassignment {
  partitionIndex: number
  replicas: number[]
  addingReplicas?: number[]
  removingReplicas?: number[]
}
export interface OngoingTopicReassignment {
  topic: string
  partitions: OngoingPartitionReassignment[]
}
export interface ListPartitionReassignmentsResponse {
  topics: OngoingTopicReassignment[]
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
  listGroups(): Promise<{ groups: GroupOverview[] }>
  describeGroups(groupIds: string[]): Promise<GroupDescriptions>
  /** Resolves with `errorCode: 0` for each group; a group that cannot be deleted rejects the call with KafkaJSDeleteGroupsError. */
  deleteGroups(groupIds: string[]): Promise<DeleteGroupsResult[]>
  fetchOffsets(options: { groupId: string; topics?: string[]; resolveOffsets?: boolean }): Promise<Array<{ topic: string; partitions: FetchOffsetsPartition[] }>>
  setOffsets(options: { groupId: string; topic: string; partitions: SeekEntry[] }): Promise<void>
  resetOffsets(options: { groupId: string; topic: string; earliest: boolean }): Promise<void>
  /**
   * Typed as kafkajs's so ACL code compiles, but samsa has no ACLs (the broker runs inside
   * your process, with its permissions): always rejects with KafkaJSNotImplemented.
   */
  createAcls(options: { acl: AclEntry[] }): Promise<boolean>
  /** Typed as kafkajs's; samsa has no ACLs: always rejects with KafkaJSNotImplemented. */
  describeAcls(options: AclFilter): Promise<DescribeAclResponse>
  /** Typed as kafkajs's; samsa has no ACLs: always rejects with KafkaJSNotImplemented. */
  deleteAcls(options: { filters: AclFilter[] }): Promise<DeleteAclResponse>
  /** Typed as kafkajs's; one broker leads every partition, so this always rejects with KafkaJSNotImplemented. */
  alterPartitionReassignments(request: { topics: PartitionReassignment[]; timeout?: number }): Promise<void>
  /** One broker leads every partition: always resolves with `{ topics: [] }`. */
  listPartitionReassignments(request?: { topics?: TopicPartitions[]; timeout?: number }): Promise<ListPartitionReassignmentsResponse>
  logger(): Logger
  readonly events: AdminEvents
  on<E extends ValueOf<AdminEvents>>(
    eventName: E,
    listener: (event: EventFor<AdminEvents, ClientEventTypes, E>) => void
  ): RemoveInstrumentationEventListener<E>
}

/**
 * samsa's built-in assigners (`PartitionAssigners.roundRobin`, `.range`): the group
 * coordinator assigns partitions with the named strategy. Custom assigner functions are
 * refused (KafkaJSNonRetriableError) for now.
 */
export type PartitionAssigner = (() => { name: string }) & { samsaName: string }
export const PartitionAssigners: { roundRobin: PartitionAssigner; range: PartitionAssigner }

// kafkajs's assigner protocol: the member metadata and assignment encodings of the
// "consumer" protocol type, and the shape of a custom assigner.
export type Assignment = { [topic: string]: number[] }
export type GroupMember = { memberId: string; memberMetadata: Buffer }
export type GroupMemberAssignment = { memberId: string; memberAssignment: Buffer }
export type GroupState = { name: string; metadata: Buffer }
export type Assigner = {
  name: string
  version: number
  assign(group: { members: GroupMember[]; topics: string[] }): Promise<GroupMemberAssignment[]>
  protocol(subscription: { topics: string[] }): GroupState
}
export interface ISerializer<T> {
  encode(value: T): Buffer
  decode(buffer: Buffer): T | null
}
export type MemberMetadata = { version: number; topics: string[]; userData: Buffer }
export type MemberAssignment = { version: number; assignment: Assignment; userData: Buffer }
export const AssignerProtocol: {
  MemberMetadata: ISerializer<MemberMetadata>
  MemberAssignment: ISerializer<MemberAssignment>
}

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

export type TopicOffsets = { topic: string; partitions: PartitionOffset[] }
export type Offsets = { topics: TopicOffsets[] }
export type OffsetsByTopicPartition = Offsets

export interface EachBatchPayload {
  batch: Batch
  resolveOffset(offset: string): void
  heartbeat(): Promise<void>
  pause(): () => void
  commitOffsetsIfNecessary(offsets?: Offsets): Promise<void>
  uncommittedOffsets(): OffsetsByTopicPartition
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

/** Aliases kafkajs keeps for code written against @types/kafkajs. */
export type ConsumerEachMessagePayload = EachMessagePayload
export type ConsumerEachBatchPayload = EachBatchPayload

export type TopicPartitions = { topic: string; partitions: number[] }
export type TopicPartition = { topic: string; partition: number }
export type TopicPartitionOffset = TopicPartition & { offset: string }
export type TopicPartitionOffsetAndMetadata = TopicPartitionOffset & { metadata?: string | null }

export type MemberDescription = {
  memberId: string
  clientId: string
  clientHost: string
  memberMetadata: Buffer
  memberAssignment: Buffer
  /** samsa's own: the member's partitions by topic, decoded. */
  assignment: Assignment
}

// Kafka's group states (samsa's groups are in one of Empty, Dead, CompletingRebalance, Stable).
export type ConsumerGroupState = 'Unknown' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead' | 'Empty'

export type GroupDescription = {
  groupId: string
  members: MemberDescription[]
  protocol: string
  protocolType: string
  state: ConsumerGroupState
  errorCode: number
}

export type GroupDescriptions = { groups: GroupDescription[] }

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

export type ConsumerHeartbeatEvent = InstrumentationEvent<{ groupId: string; memberId: string; groupGenerationId: number }>
export type ConsumerCommitOffsetsEvent = InstrumentationEvent<{
  groupId: string
  memberId: string
  groupGenerationId: number
  topics: TopicOffsets[]
}>
export interface IMemberAssignment {
  [key: string]: number[]
}
export type ConsumerGroupJoinEvent = InstrumentationEvent<{
  duration: number
  groupId: string
  isLeader: boolean
  /** The longest-standing member (samsa's coordinator assigns; no member leads). null when unknown. */
  leaderId: string | null
  /** The assigner's name, e.g. 'RoundRobinAssigner'. */
  groupProtocol: string
  memberId: string
  memberAssignment: IMemberAssignment
}>
/** `nodeId` is kafkajs's broker id; samsa has one embedded broker and leaves it out. */
export type ConsumerFetchStartEvent = InstrumentationEvent<{ nodeId?: number }>
export type ConsumerFetchEvent = InstrumentationEvent<{ numberOfBatches: number; duration: number; nodeId?: number }>
export interface IBatchProcessEvent {
  topic: string
  partition: number
  highWatermark: string
  offsetLag: string
  offsetLagLow: string
  batchSize: number
  /** A processed batch is never empty, so this is a string. */
  firstOffset: string
  lastOffset: string
}
export type ConsumerStartBatchProcessEvent = InstrumentationEvent<IBatchProcessEvent>
export type ConsumerEndBatchProcessEvent = InstrumentationEvent<IBatchProcessEvent & { duration: number }>
export type ConsumerCrashEvent = InstrumentationEvent<{ error: Error; groupId: string; restart: boolean }>
export type ConsumerRebalancingEvent = InstrumentationEvent<{ groupId: string; memberId: string }>
/** samsa never emits this: a member is only assigned partitions of topics it subscribed to. */
export type ConsumerReceivedUnsubcribedTopicsEvent = InstrumentationEvent<{
  groupId: string
  generationId: number
  memberId: string
  assignedTopics: string[]
  topicsSubscribed: string[]
  topicsNotSubscribed: string[]
}>
export type ConsumerStopEvent = InstrumentationEvent<undefined>

type ConsumerEventTypes = ClientEventTypes & {
  HEARTBEAT: ConsumerHeartbeatEvent
  COMMIT_OFFSETS: ConsumerCommitOffsetsEvent
  GROUP_JOIN: ConsumerGroupJoinEvent
  FETCH_START: ConsumerFetchStartEvent
  FETCH: ConsumerFetchEvent
  START_BATCH_PROCESS: ConsumerStartBatchProcessEvent
  END_BATCH_PROCESS: ConsumerEndBatchProcessEvent
  STOP: ConsumerStopEvent
  CRASH: ConsumerCrashEvent
  REBALANCING: ConsumerRebalancingEvent
  RECEIVED_UNSUBSCRIBED_TOPICS: ConsumerReceivedUnsubcribedTopicsEvent
}

export type Consumer = {
  connect(): Promise<void>
  disconnect(): Promise<void>
  subscribe(subscription: ConsumerSubscribeTopics | ConsumerSubscribeTopic): Promise<void>
  stop(): Promise<void>
  run(config?: ConsumerRunConfig): Promise<void>
  commitOffsets(topicPartitions: Array<TopicPartitionOffsetAndMetadata>): Promise<void>
  seek(topicPartitionOffset: TopicPartitionOffset): void
  describeGroup(): Promise<GroupDescription>
  pause(topics: Array<{ topic: string; partitions?: number[] }>): void
  paused(): TopicPartitions[]
  resume(topics: Array<{ topic: string; partitions?: number[] }>): void
  on<E extends ValueOf<ConsumerEvents>>(
    eventName: E,
    listener: (event: EventFor<ConsumerEvents, ConsumerEventTypes, E>) => void
  ): RemoveInstrumentationEventListener<E>
  logger(): Logger
  readonly events: ConsumerEvents
}

// kafkajs's error classes: the same names, fields, constructor arguments and `retriable` rules.

export interface KafkaJSErrorMetadata {
  retriable?: boolean
  cause?: Error
  /** Accepted as kafkajs accepts them; like kafkajs, not stored on the error. */
  topic?: string
  partitionId?: number
  metadata?: PartitionMetadata
}
export interface KafkaJSOffsetOutOfRangeMetadata {
  topic: string
  partition: number
}
export interface KafkaJSNumberOfRetriesExceededMetadata {
  retryCount: number
  retryTime: number
}
export interface KafkaJSConnectionErrorMetadata {
  broker?: string
  code?: string
}
export interface KafkaJSRequestTimeoutErrorMetadata {
  broker?: string
  /** Accepted as kafkajs accepts it; like kafkajs, not stored on the error. */
  clientId?: string
  correlationId?: number
  createdAt?: number
  sentAt?: number
  pendingDuration?: number
}
export interface KafkaJSTopicMetadataNotLoadedMetadata {
  topic: string
}
export interface KafkaJSStaleTopicMetadataAssignmentMetadata {
  topic: string
  unknownPartitions: PartitionMetadata[]
}
export interface KafkaJSServerDoesNotSupportApiKeyMetadata {
  apiKey: number
  apiName: string
}
export interface KafkaJSDeleteGroupsErrorGroups {
  groupId: string
  errorCode: number
  error: KafkaJSError
}
export interface KafkaJSDeleteTopicRecordsErrorPartition {
  partition: number
  offset: string
  error: KafkaJSError
}
export interface KafkaJSDeleteTopicRecordsErrorTopic {
  topic: string
  partitions: KafkaJSDeleteTopicRecordsErrorPartition[]
}

export class KafkaJSError extends Error {
  readonly message: string
  readonly name: string
  readonly retriable: boolean
  readonly helpUrl?: string
  readonly cause?: Error
  constructor(e: Error | string, metadata?: KafkaJSErrorMetadata)
}
export class KafkaJSNonRetriableError extends KafkaJSError {
  constructor(e: Error | string, metadata?: { cause?: Error })
}
export class KafkaJSProtocolError extends KafkaJSError {
  readonly code: number
  readonly type: string
  constructor(e: Error | string | { message: string; type: string; code: number; retriable: boolean }, metadata?: { retriable?: boolean })
}
export class KafkaJSOffsetOutOfRange extends KafkaJSProtocolError {
  readonly topic: string
  readonly partition: number
  constructor(e: Error | string | { message: string; type: string; code: number; retriable: boolean }, metadata?: KafkaJSOffsetOutOfRangeMetadata)
}
export class KafkaJSNumberOfRetriesExceeded extends KafkaJSNonRetriableError {
  readonly stack: string
  readonly retryCount: number
  readonly retryTime: number
  constructor(e: Error | string, metadata?: KafkaJSNumberOfRetriesExceededMetadata)
}
export class KafkaJSConnectionError extends KafkaJSError {
  readonly broker: string
  readonly code?: string
  constructor(e: Error | string, metadata?: KafkaJSConnectionErrorMetadata)
}
export class KafkaJSConnectionClosedError extends KafkaJSConnectionError {
  readonly host?: string
  readonly port?: number
  /** `broker` becomes `host:port`, as in kafkajs. */
  constructor(e: Error | string, metadata?: { host?: string; port?: number })
}
export class KafkaJSRequestTimeoutError extends KafkaJSError {
  readonly broker: string
  readonly correlationId: number
  readonly createdAt: number
  readonly sentAt: number
  readonly pendingDuration: number
  constructor(e: Error | string, metadata?: KafkaJSRequestTimeoutErrorMetadata)
}
export class KafkaJSTopicMetadataNotLoaded extends KafkaJSError {
  readonly topic: string
  constructor(e: Error | string, metadata?: KafkaJSTopicMetadataNotLoadedMetadata)
}
export class KafkaJSStaleTopicMetadataAssignment extends KafkaJSError {
  readonly topic: string
  readonly unknownPartitions: PartitionMetadata[]
  constructor(e: Error | string, metadata?: KafkaJSStaleTopicMetadataAssignmentMetadata)
}
export class KafkaJSServerDoesNotSupportApiKey extends KafkaJSNonRetriableError {
  readonly apiKey: number
  readonly apiName: string
  constructor(e: Error | string, metadata?: KafkaJSServerDoesNotSupportApiKeyMetadata)
}
export class KafkaJSMemberIdRequired extends KafkaJSProtocolError {
  readonly memberId: string
  constructor(e: Error | string | { message: string; type: string; code: number; retriable: boolean }, metadata?: { memberId: string })
}
export class KafkaJSCreateTopicError extends KafkaJSProtocolError {
  readonly topic: string
  constructor(e: Error | string | { message: string; type: string; code: number; retriable: boolean }, topic?: string)
}
export class KafkaJSAlterPartitionReassignmentsError extends KafkaJSProtocolError {
  readonly topic?: string
  readonly partition?: number
  constructor(e: Error | string | { message: string; type: string; code: number; retriable: boolean }, topic?: string, partition?: number)
}
export class KafkaJSAggregateError extends Error {
  readonly errors: (Error | string)[]
  constructor(message: Error | string, errors: (Error | string)[])
}
export class KafkaJSDeleteGroupsError extends KafkaJSError {
  readonly groups: KafkaJSDeleteGroupsErrorGroups[]
  constructor(e: Error | string, groups?: KafkaJSDeleteGroupsErrorGroups[])
}
export class KafkaJSDeleteTopicRecordsError extends KafkaJSError {
  readonly partitions: KafkaJSDeleteTopicRecordsErrorPartition[]
  /** Retriable when every failed partition's error is. */
  constructor(metadata: KafkaJSDeleteTopicRecordsErrorTopic)
}
// kafkajs's classes that add only their name; they take KafkaJSError's (or
// KafkaJSNonRetriableError's) arguments.
export class KafkaJSNotImplemented extends KafkaJSNonRetriableError {}
export class KafkaJSTimeout extends KafkaJSNonRetriableError {}
export class KafkaJSLockTimeout extends KafkaJSTimeout {}
export class KafkaJSPartialMessageError extends KafkaJSNonRetriableError {}
export class KafkaJSBrokerNotFound extends KafkaJSError {}
export class KafkaJSSASLAuthenticationError extends KafkaJSNonRetriableError {}
export class KafkaJSGroupCoordinatorNotFound extends KafkaJSNonRetriableError {}
export class KafkaJSMetadataNotLoaded extends KafkaJSError {}
export class KafkaJSUnsupportedMagicByteInMessageSet extends KafkaJSNonRetriableError {}
export class KafkaJSInvariantViolation extends KafkaJSNonRetriableError {}
export class KafkaJSInvalidVarIntError extends KafkaJSNonRetriableError {}
export class KafkaJSInvalidLongError extends KafkaJSNonRetriableError {}
export class KafkaJSNoBrokerAvailableError extends KafkaJSError {}
export class KafkaJSFetcherRebalanceError extends Error {}
