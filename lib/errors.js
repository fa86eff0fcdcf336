'use strict'

// kafkajs's error classes (same names, fields and `retriable` rules), and the one place
// native errors become them.

class KafkaJSError extends Error {
  constructor(e, { retriable = true, cause } = {}) {
    super(e && e.message ? e.message : e, cause ? { cause } : undefined)
    Error.captureStackTrace(this, this.constructor)
    this.message = (e && e.message) || e
    this.name = 'KafkaJSError'
    this.retriable = retriable
    this.helpUrl = e && e.helpUrl
    this.cause = cause
  }
}

class KafkaJSNonRetriableError extends KafkaJSError {
  constructor(e, { cause } = {}) {
    super(e, { retriable: false, cause })
    this.name = 'KafkaJSNonRetriableError'
  }
}

class KafkaJSProtocolError extends KafkaJSError {
  constructor(e, { retriable = e.retriable } = {}) {
    super(e, { retriable })
    this.type = e.type
    this.code = e.code
    this.name = 'KafkaJSProtocolError'
  }
}

// kafkajs's classes whose second argument is an object of fields the error keeps, e.g.
// `new KafkaJSOffsetOutOfRange(e, { topic, partition })`.
const withFields = (name, Base, fields) => {
  const C = class extends Base {
    constructor(e, metadata = {}) {
      super(e)
      for (const field of fields) this[field] = metadata[field]
      this.name = name
    }
  }
  Object.defineProperty(C, 'name', { value: name })
  return C
}

const KafkaJSOffsetOutOfRange = withFields('KafkaJSOffsetOutOfRange', KafkaJSProtocolError, ['topic', 'partition'])

class KafkaJSNumberOfRetriesExceeded extends KafkaJSNonRetriableError {
  constructor(e, { retryCount, retryTime } = {}) {
    super(e, { cause: e })
    this.stack = `${this.name}\n  Caused by: ${e.stack}`
    this.retryCount = retryCount
    this.retryTime = retryTime
    this.name = 'KafkaJSNumberOfRetriesExceeded'
  }
}

const KafkaJSConnectionError = withFields('KafkaJSConnectionError', KafkaJSError, ['broker', 'code'])
const KafkaJSTopicMetadataNotLoaded = withFields('KafkaJSTopicMetadataNotLoaded', KafkaJSError, ['topic'])

// kafkajs's classes that add nothing but their name. samsa has no network or cluster to
// fail, so it does not throw most of them, but applications test for them with `instanceof`.
const simple = (name, Base) => {
  const C = class extends Base {
    constructor(e, opts) {
      super(e, opts)
      this.name = name
    }
  }
  Object.defineProperty(C, 'name', { value: name })
  return C
}

const KafkaJSNotImplemented = simple('KafkaJSNotImplemented', KafkaJSNonRetriableError)
const KafkaJSTimeout = simple('KafkaJSTimeout', KafkaJSNonRetriableError)

class KafkaJSCreateTopicError extends KafkaJSProtocolError {
  constructor(e, topicName) {
    super(e)
    this.topic = topicName
    this.name = 'KafkaJSCreateTopicError'
  }
}

class KafkaJSAggregateError extends Error {
  constructor(message, errors) {
    super(message)
    this.errors = errors
    this.name = 'KafkaJSAggregateError'
  }
}

class KafkaJSDeleteGroupsError extends KafkaJSError {
  constructor(e, groups = []) {
    super(e)
    this.groups = groups
    this.name = 'KafkaJSDeleteGroupsError'
  }
}

class KafkaJSDeleteTopicRecordsError extends KafkaJSError {
  constructor({ partitions }) {
    const retriable = partitions.filter(({ error }) => error != null).every(({ error }) => error.retriable === true)
    super('Error while deleting records', { retriable })
    this.name = 'KafkaJSDeleteTopicRecordsError'
    this.partitions = partitions
  }
}

const KafkaJSPartialMessageError = simple('KafkaJSPartialMessageError', KafkaJSNonRetriableError)
const KafkaJSBrokerNotFound = simple('KafkaJSBrokerNotFound', KafkaJSError)
const KafkaJSSASLAuthenticationError = simple('KafkaJSSASLAuthenticationError', KafkaJSNonRetriableError)
const KafkaJSGroupCoordinatorNotFound = simple('KafkaJSGroupCoordinatorNotFound', KafkaJSNonRetriableError)
const KafkaJSMetadataNotLoaded = simple('KafkaJSMetadataNotLoaded', KafkaJSError)
const KafkaJSLockTimeout = simple('KafkaJSLockTimeout', KafkaJSTimeout)
const KafkaJSUnsupportedMagicByteInMessageSet = simple('KafkaJSUnsupportedMagicByteInMessageSet', KafkaJSNonRetriableError)
const KafkaJSInvariantViolation = simple('KafkaJSInvariantViolation', KafkaJSNonRetriableError)
const KafkaJSInvalidVarIntError = simple('KafkaJSInvalidVarIntError', KafkaJSNonRetriableError)
const KafkaJSInvalidLongError = simple('KafkaJSInvalidLongError', KafkaJSNonRetriableError)
const KafkaJSNoBrokerAvailableError = simple('KafkaJSNoBrokerAvailableError', KafkaJSError)

const KafkaJSRequestTimeoutError = withFields('KafkaJSRequestTimeoutError', KafkaJSError, ['broker', 'correlationId', 'createdAt', 'sentAt', 'pendingDuration'])
const KafkaJSStaleTopicMetadataAssignment = withFields('KafkaJSStaleTopicMetadataAssignment', KafkaJSError, ['topic', 'unknownPartitions'])
const KafkaJSServerDoesNotSupportApiKey = withFields('KafkaJSServerDoesNotSupportApiKey', KafkaJSNonRetriableError, ['apiKey', 'apiName'])
const KafkaJSMemberIdRequired = withFields('KafkaJSMemberIdRequired', KafkaJSProtocolError, ['memberId'])

// `broker` is `host:port`, as kafkajs sets it.
class KafkaJSConnectionClosedError extends KafkaJSConnectionError {
  constructor(e, { host, port } = {}) {
    super(e, { broker: `${host}:${port}` })
    this.host = host
    this.port = port
    this.name = 'KafkaJSConnectionClosedError'
  }
}

class KafkaJSAlterPartitionReassignmentsError extends KafkaJSProtocolError {
  constructor(e, topicName, partition) {
    super(e)
    this.topic = topicName
    this.partition = partition
    this.name = 'KafkaJSAlterPartitionReassignmentsError'
  }
}
class KafkaJSFetcherRebalanceError extends Error {}

// Kafka's errors: name -> [code, whether retrying may help, description]. Names, codes
// and retriability come from the native side's one table (Kafka's, under kafkajs's names),
// so an error made here and one from the native side, in this process or another, agree.
// The descriptions are what kafkajs shows when there is no message.
const DESCRIPTIONS = {
  OFFSET_OUT_OF_RANGE: 'The requested offset is not within the range of offsets maintained by the server',
  CORRUPT_MESSAGE: 'This message has failed its CRC checksum, exceeds the valid size, or is otherwise corrupt',
  UNKNOWN_TOPIC_OR_PARTITION: 'This server does not host this topic-partition',
  MESSAGE_TOO_LARGE: 'The request included a message larger than the max message size the server will accept',
  INVALID_TOPIC_EXCEPTION: 'The request attempted to perform an operation on an invalid topic',
  INVALID_REQUIRED_ACKS: 'Produce request specified an invalid value for required acks',
  ILLEGAL_GENERATION: 'Specified group generation id is not valid',
  INVALID_GROUP_ID: 'The configured groupId is invalid',
  UNKNOWN_MEMBER_ID: 'The coordinator is not aware of this member',
  TOPIC_ALREADY_EXISTS: 'Topic with this name already exists',
  INVALID_PARTITIONS: 'Number of partitions is invalid',
  INVALID_REPLICATION_FACTOR: 'Replication-factor is invalid',
  INVALID_REPLICA_ASSIGNMENT: 'Replica assignment is invalid',
  INVALID_CONFIG: 'Configuration is invalid',
  INVALID_REQUEST: 'This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker',
  OUT_OF_ORDER_SEQUENCE_NUMBER: 'The broker received an out of order sequence number',
  INVALID_PRODUCER_EPOCH: "Producer attempted an operation with an old epoch. Either there is a newer producer with the same transactionalId, or the producer's transaction has been expired by the broker",
  KAFKA_STORAGE_ERROR: 'Disk error when trying to access log file on the disk',
  NON_EMPTY_GROUP: 'The group is not empty',
  GROUP_ID_NOT_FOUND: 'The group id does not exist',
  UNSUPPORTED_COMPRESSION_TYPE: 'The requesting client does not support the compression type of given partition',
  INVALID_RECORD: 'This record has failed the validation on broker and hence be rejected',
}
const PROTOCOL_ERRORS = Object.fromEntries(
  require('../binding.js')
    .kafkaErrors()
    .map(({ name, code, retriable }) => [name, [code, retriable, DESCRIPTIONS[name] || name]])
)

/** The fields of a native error (src/binding/error.rs): an error that is part of a
 * result is { samsaType, code, retriable, message } itself; one thrown or rejected carries
 * them in its cause. Null for anything else (a JS error, a napi argument error). */
function nativeFields(err) {
  if (err === null || typeof err !== 'object') return null
  // Made by the addon in Node's own realm: checked by shape, not by instanceof (a test
  // runner's realm has other constructors).
  if (typeof err.samsaType === 'string' && err.constructor && err.constructor.name === 'Object') return err
  const cause = err.cause
  if (cause === null || typeof cause !== 'object' || typeof cause.message !== 'string' || !cause.message.startsWith('{"samsaType"')) return null
  try {
    return JSON.parse(cause.message)
  } catch {
    return null
  }
}

/** Turns an error of the native addon into the kafkajs error class it stands for. */
function fromNative(err, context = {}) {
  const fields = nativeFields(err)
  if (fields === null) return err
  // The native side's flag: the table's, or samsa's own where it knows more (a full disk
  // is a KAFKA_STORAGE_ERROR retrying does not mend), from whichever process it came.
  const { samsaType: type, code, retriable, message } = fields
  let out
  if (type === 'CONNECTION_ERROR') {
    // The process that owns the data directory cannot be reached (or may not be, by this
    // user): kafkajs's connection error, retriable unless it is a matter of permissions.
    out = new KafkaJSConnectionError(message)
    out.retriable = retriable
  } else if (type === 'REQUEST_TIMEOUT') {
    // It is there but did not answer within requestTimeout, as kafkajs reports a broker
    // that stops answering.
    out = new KafkaJSRequestTimeoutError(message)
  } else if (code < 0) {
    out = retriable ? new KafkaJSError(message) : new KafkaJSNonRetriableError(message)
  } else if (type === 'OFFSET_OUT_OF_RANGE') {
    out = new KafkaJSOffsetOutOfRange({ type, code, retriable, message }, context)
  } else {
    out = new KafkaJSProtocolError({ type, code, retriable, message })
  }
  out.samsaType = type
  return out
}

/**
 * Whether a request to the process that owns the directory failed with its fate unknown:
 * the connection was lost, or the owner did not answer in time. It may have been carried
 * out.
 */
function isConnectionLoss(e) {
  return e != null && (e.samsaType === 'CONNECTION_ERROR' || e.samsaType === 'REQUEST_TIMEOUT')
}

/** Creates the kafkajs protocol error for a Kafka error name, with samsa's own message;
 * `retriable` overrides kafkajs's flag where samsa knows better (an explicit partition
 * that does not exist is bad input, not stale metadata). */
function protocolError(type, message, { retriable } = {}) {
  const [code, flag, description] = PROTOCOL_ERRORS[type] || [-1, false, type]
  return new KafkaJSProtocolError({
    type,
    code,
    retriable: retriable === undefined ? flag : retriable,
    message: message || description,
  })
}

module.exports = {
  isConnectionLoss,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSProtocolError,
  KafkaJSOffsetOutOfRange,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSConnectionError,
  KafkaJSTopicMetadataNotLoaded,
  KafkaJSNotImplemented,
  KafkaJSTimeout,
  KafkaJSCreateTopicError,
  KafkaJSAggregateError,
  KafkaJSDeleteTopicRecordsError,
  KafkaJSDeleteGroupsError,
  KafkaJSPartialMessageError,
  KafkaJSBrokerNotFound,
  KafkaJSConnectionClosedError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSMemberIdRequired,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSMetadataNotLoaded,
  KafkaJSStaleTopicMetadataAssignment,
  KafkaJSLockTimeout,
  KafkaJSServerDoesNotSupportApiKey,
  KafkaJSUnsupportedMagicByteInMessageSet,
  KafkaJSInvariantViolation,
  KafkaJSInvalidVarIntError,
  KafkaJSInvalidLongError,
  KafkaJSFetcherRebalanceError,
  KafkaJSNoBrokerAvailableError,
  KafkaJSAlterPartitionReassignmentsError,
  fromNative,
  protocolError,
  PROTOCOL_ERRORS,
}
