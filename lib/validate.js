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

/** A key, value or header value: string, Buffer/Uint8Array, null, or a number/boolean (kafkajs sends String(v)). */
function checkBytes(v, field) {
  if (v === null || v === undefined || typeof v === 'string' || v instanceof Uint8Array) return
  if (typeof v === 'number' || typeof v === 'boolean') return
  const hint = typeof v === 'object' ? ' (use JSON.stringify for objects)' : ''
  throw new TypeError(`${field} must be a string, a Buffer or null, got ${describe(v)}${hint}`)
}

function checkMessage(m, i, topic) {
  const where = `messages[${i}] of topic "${topic}"`
  if (m === null || typeof m !== 'object') {
    throw new TypeError(`${where} must be an object like { key, value }, got ${describe(m)}`)
  }
  if (m.value === undefined) {
    throw new KafkaJSNonRetriableError(`Invalid message without value for topic "${topic}": ${safeJson(m)}`)
  }
  checkBytes(m.key, `${where}: key`)
  checkBytes(m.value, `${where}: value`)
  if (m.headers !== undefined && m.headers !== null) {
    if (typeof m.headers !== 'object' || Array.isArray(m.headers)) {
      throw new TypeError(`${where}: headers must be an object of header name to value, got ${describe(m.headers)}`)
    }
    for (const k of Object.keys(m.headers)) {
      const v = m.headers[k]
      const values = Array.isArray(v) ? v : [v]
      for (const hv of values) {
        if (hv === undefined) throw new TypeError(`${where}: header "${k}" has no value`)
        checkBytes(hv, `${where}: header "${k}"`)
      }
    }
  }
  if (m.timestamp !== undefined && m.timestamp !== null && m.timestamp !== '' && m.timestamp !== 0) {
    const t = Number(m.timestamp)
    if (!Number.isSafeInteger(t) || t < -1) {
      throw new TypeError(`${where}: timestamp must be milliseconds since the epoch (a number or numeric string), got ${describe(m.timestamp)}`)
    }
  }
  if (m.partition !== undefined && m.partition !== null && !Number.isInteger(m.partition)) {
    throw new TypeError(`${where}: partition must be an integer, got ${describe(m.partition)}`)
  }
}

function safeJson(v) {
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}

module.exports = { checkTopicName, checkMessage, describe }
