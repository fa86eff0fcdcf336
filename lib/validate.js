'use strict'

// Argument checks shared by the public API: everything is checked here, in JS, before it
// reaches the native addon, so bad input gets a TypeError or a kafkajs error that names
// the field, never the addon's "Failed to convert JavaScript value".

const { KafkaJSNonRetriableError, protocolError } = require('./errors')

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/
const INT32_MAX = 2 ** 31 - 1
// The longest delay a Node timer takes (longer ones fire at once, with a warning).
const MAX_TIMER_MS = INT32_MAX

// The last name that passed: sends repeat one topic, and the regular expression costs
// a single-message send about 3%.
let lastGoodTopic = null

/** Kafka's topic name rule, checked before anything reaches the broker. */
function checkTopicName(topic, field = 'topic') {
  if (topic === lastGoodTopic) return
  if (typeof topic !== 'string') {
    throw new TypeError(`${field} must be a string, got ${describe(topic)}`)
  }
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw protocolError(
      'INVALID_TOPIC_EXCEPTION',
      `Invalid topic name ${JSON.stringify(topic.length > 80 ? `${topic.slice(0, 80)}...` : topic)}${topic.length > 80 ? ` (${topic.length} characters)` : ''}: 1 to 249 characters of ASCII letters, digits, '.', '_' and '-', and not '.' or '..'`
    )
  }
  lastGoodTopic = topic
}

/** A value as error messages show it: its type and a short form of it. */
function describe(v) {
  if (v === null) return 'null'
  if (v === undefined) return 'undefined'
  if (Array.isArray(v)) return 'an array'
  switch (typeof v) {
    case 'string':
      return `string ${JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v)}${v.length > 80 ? ` (${v.length} characters)` : ''}`
    case 'bigint':
      return `a bigint (${v}n)`
    case 'symbol':
      return `a symbol (${String(v.description === undefined ? '' : v.description).slice(0, 80)})`
    case 'function':
      return `a function${v.name ? ` (${String(v.name).slice(0, 80)})` : ''}`
    case 'object':
      return `an object (${constructorName(v)})`
    default:
      return `${typeof v} ${String(v)}`
  }
}

function constructorName(v) {
  try {
    const c = v.constructor
    return typeof c === 'function' && typeof c.name === 'string' && c.name ? c.name : 'Object'
  } catch {
    return 'Object'
  }
}

/**
 * A value in the words of kafkajs's own messages (`Invalid topic ${topic}`), which put
 * it in a template string; safe for every value (a symbol or an object without a
 * prototype does not convert to a string).
 */
function show(v) {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (typeof v === 'string') return v.length > 80 ? `${v.slice(0, 80)}... (${v.length} characters)` : v
  return describe(v)
}

/** An options object: undefined means none (`{}`); anything but an object is refused. */
function options(v, what) {
  if (v === undefined) return {}
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new TypeError(`${what} takes an options object, got ${describe(v)}`)
  }
  return v
}

/** A non-empty string (group ids, client ids). */
function checkString(v, field) {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${field} must be a non-empty string, got ${describe(v)}`)
}

/** A group id as kafkajs checks it (a falsy one is kafkajs's KafkaJSNonRetriableError)
 * and as samsa needs it (a non-empty string). */
function checkGroupId(groupId, field = 'groupId') {
  if (!groupId) throw new KafkaJSNonRetriableError(`Invalid groupId ${show(groupId)}`)
  checkString(groupId, field)
}

/** A partition number: an integer from 0 to 2^31 - 1 (Kafka's int32). */
function isPartition(p) {
  return Number.isInteger(p) && p >= 0 && p <= INT32_MAX
}

/** An integer within Kafka's int32 range (a partition count, say), or a TypeError. */
function checkInt32(v, field, { min = -(2 ** 31) } = {}) {
  if (!Number.isInteger(v) || v < min || v > INT32_MAX) {
    throw new TypeError(`${field} must be an integer from ${min} to ${INT32_MAX}, got ${describe(v)}`)
  }
}

/** An offset as kafkajs takes it (a string of digits, a number or a bigint) as a safe
 * integer, or null if it is not one. */
function toOffset(v) {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null
  if (typeof v === 'string' && /^\s*-?\d{1,16}\s*$/.test(v)) {
    const n = Number(v)
    return Number.isSafeInteger(n) ? n : null
  }
  return null
}

/** A duration in milliseconds a timer can wait for; `min` is exclusive when `positive`. */
function checkMillis(v, field, { positive = false } = {}) {
  if (typeof v !== 'number' || !Number.isFinite(v) || (positive ? v <= 0 : v < 0) || v > MAX_TIMER_MS) {
    throw new TypeError(`${field} must be a ${positive ? 'positive' : 'non-negative'} number of milliseconds up to ${MAX_TIMER_MS}, got ${describe(v)}`)
  }
}

/** A listener for `on(eventName, listener)`. */
function checkListener(listener) {
  if (typeof listener !== 'function') throw new TypeError(`listener must be a function, got ${describe(listener)}`)
}

const where = (topic, i) => `messages[${i}] of topic "${topic}"`

// The errors of a bad message, built only when one is found (the checks themselves run
// inline in the producer's packing loop).
const messageErrors = {
  notAnObject: (topic, i, m) => new TypeError(`${where(topic, i)} must be an object like { key, value }, got ${describe(m)}`),
  noValue: (topic, m) => new KafkaJSNonRetriableError(`Invalid message without value for topic "${topic}": ${safeJson(m)}`),
  bytes: (topic, i, field, v) =>
    new TypeError(
      `${where(topic, i)}: ${field} must be a string, a Buffer or null, got ${describe(v)}${typeof v === 'object' ? ' (use JSON.stringify for objects)' : ''}`
    ),
  headers: (topic, i, h) => new TypeError(`${where(topic, i)}: headers must be an object of header name to value, got ${describe(h)}`),
  headerValue: (topic, i, name) => new TypeError(`${where(topic, i)}: header "${name}" has no value`),
  timestamp: (topic, i, t) =>
    new TypeError(`${where(topic, i)}: timestamp must be milliseconds since the epoch (a number or numeric string), got ${describe(t)}`),
  partitionType: (topic, i, p) => new TypeError(`${where(topic, i)}: partition must be an integer, got ${describe(p)}`),
  partitionerResult: (topic, i, p) =>
    new TypeError(`${where(topic, i)}: the partitioner must return a partition number (an integer), got ${describe(p)}`),
  partition: (topic, i, p, n) =>
    protocolError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      `This server does not host this topic-partition: topic "${topic}" has partitions 0 to ${n - 1}, and messages[${i}] went to partition ${describe(p)}`,
      { retriable: false }
    ),
}

/** JSON for an error message; never throws (a bigint, a cycle), and stays short. */
function safeJson(v) {
  let s
  try {
    s = JSON.stringify(v)
  } catch {
    s = undefined
  }
  if (typeof s !== 'string') return describe(v)
  return s.length > 200 ? `${s.slice(0, 200)}...` : s
}

module.exports = {
  checkTopicName,
  describe,
  show,
  options,
  checkString,
  checkGroupId,
  isPartition,
  checkInt32,
  toOffset,
  checkMillis,
  checkListener,
  messageErrors,
  safeJson,
  INT32_MAX,
}
