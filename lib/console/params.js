'use strict'

// The console's input checks: path segments, query parameters and request bodies. Every
// request's input passes through here before anything reaches the broker, and whatever
// is wrong with it becomes an HttpError with a message that names the parameter: a 400,
// never an exception that escapes a handler.

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/
// Kafka's group ids have no length rule; a bound keeps a URL from carrying megabytes.
const MAX_GROUP_ID_CHARS = 1024
const MAX_KEY_CHARS = 1024
// Requests carry at most a test message: a value of a few kilobytes, some headers.
const MAX_BODY_BYTES = 64 * 1024
const DIGITS = /^\d{1,16}$/
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/

class HttpError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

const badRequest = (message) => new HttpError(400, message)

/** A path segment, percent-decoded. */
function segment(raw, what) {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw badRequest(`${what} is not valid percent-encoded UTF-8`)
  }
}

function topicName(raw) {
  const name = segment(raw, 'the topic name')
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw badRequest(`invalid topic name ${JSON.stringify(name.slice(0, 80))}: 1 to 249 ASCII letters, digits, '.', '_' and '-'`)
  }
  return name
}

function groupId(raw) {
  const id = segment(raw, 'the group id')
  if (id.length === 0 || id.length > MAX_GROUP_ID_CHARS) throw badRequest(`a group id is 1 to ${MAX_GROUP_ID_CHARS} characters`)
  return id
}

function timestampOf(value, name) {
  let ms = NaN
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string' && DIGITS.test(value)) ms = Number(value)
  else if (typeof value === 'string' && ISO_DATE.test(value)) ms = Date.parse(value)
  // Kafka's timestamps are int64 milliseconds; a Date holds ±8.64e15.
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 8.64e15) {
    throw badRequest(`${name} must be milliseconds since the epoch or an ISO 8601 date, got ${show(value)}`)
  }
  return ms
}

/**
 * The query of a request by `spec` ({ name: check }): an unknown name, a repeated one or a
 * value its check refuses is a 400. Returns the checked values of the names present.
 */
function query(searchParams, spec) {
  const out = {}
  for (const [name, text] of searchParams) {
    const checked = Object.hasOwn(spec, name) ? spec[name] : null
    if (!checked) {
      const known = Object.keys(spec)
      throw badRequest(`unknown query parameter ${show(name)}${known.length ? ` (this endpoint takes ${known.join(', ')})` : ' (this endpoint takes none)'}`)
    }
    if (Object.hasOwn(out, name)) throw badRequest(`query parameter ${name} is given more than once`)
    out[name] = checked(text, name)
  }
  return out
}

/** The JSON object of a request body (application/json, at most MAX_BODY_BYTES). */
async function jsonBody(req) {
  const type = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase()
  // Also what keeps other web pages from posting here: a cross-origin request with this
  // content type needs the browser's preflight, which the console never grants.
  if (type !== 'application/json') throw new HttpError(415, 'the body must be JSON, sent with content-type: application/json')
  const declared = Number(req.headers['content-length'])
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `the body is at most ${MAX_BODY_BYTES} bytes`)
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body is at most ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  let body
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (e) {
    throw badRequest(`the body is not valid JSON: ${e.message}`)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object')
  return body
}

/** Checks a body's fields by `spec` ({ name: check }): unknown fields are a 400 too. */
function fields(body, spec) {
  const out = {}
  for (const name of Object.keys(body)) {
    if (!Object.hasOwn(spec, name)) throw badRequest(`unknown field ${show(name)} (this request takes ${Object.keys(spec).join(', ')})`)
  }
  for (const [name, check] of Object.entries(spec)) {
    const v = body[name]
    if (v !== undefined) out[name] = check(v, name)
  }
  return out
}

// Checks of one value each, a query parameter's (always a string) or a body field's:
// (value, name) -> the value to use, or a 400 that names it.
const check = {
  integer:
    ({ min = 0, max = Number.MAX_SAFE_INTEGER } = {}) =>
    (v, name) => {
      const n = typeof v === 'string' && DIGITS.test(v) ? Number(v) : v
      if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`${name} must be an integer from ${min} to ${max}, got ${show(v)}`)
      return n
    },
  oneOf: (values) => (v, name) => {
    if (!values.includes(v)) throw badRequest(`${name} must be one of ${values.join(', ')}, got ${show(v)}`)
    return v
  },
  text:
    ({ maxLength, nullable = false }) =>
    (v, name) => {
      if (v === null && nullable) return null
      if (typeof v !== 'string') throw badRequest(`${name} must be a string${nullable ? ' or null' : ''}, got ${show(v)}`)
      if (v.length > maxLength) throw badRequest(`${name} is at most ${maxLength} characters, got ${v.length}`)
      return v
    },
  /** Milliseconds since the epoch, or an ISO 8601 date (2026-12-07T10:00:00Z). */
  timestamp: () => (v, name) => timestampOf(v, name),
  topic: () => (v, name) => {
    if (typeof v !== 'string' || !TOPIC_NAME.test(v) || v === '.' || v === '..') {
      throw badRequest(`${name} must be a topic name (1 to 249 ASCII letters, digits, '.', '_' and '-'), got ${show(v)}`)
    }
    return v
  },
  /** Message headers: an object of string values. */
  headers: () => (v, name) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${name} must be an object of strings`)
    const entries = Object.entries(v)
    if (entries.length > 64) throw badRequest(`${name} has at most 64 entries`)
    for (const [k, value] of entries) {
      if (k.length === 0 || k.length > 256) throw badRequest(`${name}: a header name is 1 to 256 characters`)
      if (typeof value !== 'string') throw badRequest(`${name}.${k} must be a string, got ${show(value)}`)
    }
    return Object.fromEntries(entries)
  },
}

function show(v) {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v)
  if (v === null || v === undefined) return String(v)
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v).slice(0, 80)}`
}

module.exports = { HttpError, badRequest, topicName, groupId, query, jsonBody, fields, check, MAX_KEY_CHARS }
