'use strict'

const { KafkaJSNonRetriableError, protocolError } = require('./errors')

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

/** Kafka's topic name rule, checked before anything reaches the broker. */
function checkTopicName(topic) {
  if (typeof topic !== 'string') {
    throw new TypeError(`topic must be a string, got ${describe(topic)}`)
  }
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw protocolError(
      'INVALID_TOPIC_EXCEPTION',
      `Invalid topic name "${topic}": 1 to 249 characters of ASCII letters, digits, '.', '_' and '-', and not '.' or '..'`
    )
  }
}

function describe(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'bigint') return `a bigint (${v}n)`
  return typeof v === 'object' ? `an object (${v.constructor ? v.constructor.name : 'Object'})` : `${typeof v} ${String(v)}`
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
  partition: (topic, i, p, n) =>
    protocolError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      `This server does not host this topic-partition: topic "${topic}" has partitions 0 to ${n - 1}, and messages[${i}] went to partition ${describe(p)}`,
      { retriable: false }
    ),
}

function safeJson(v) {
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}

module.exports = { checkTopicName, describe, messageErrors }
