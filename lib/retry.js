'use strict'

// kafkajs's retry policy, in one retrier that admin and producer share.
//
// `createRetry(config)(fn)` calls `fn(bail, retryCount, retryTime)` until it resolves:
// - an error thrown by `fn` that may be retried (kafkajs's rule: `retriable` is not false,
//   and it is not a TypeError, RangeError, ReferenceError or SyntaxError) is retried after
//   `retryTime` ms, which starts at `initialRetryTime` (± `factor` of random jitter) and
//   is multiplied by `multiplier` (with jitter) after each retry, capped at
//   `maxRetryTime`: kafkajs's backoff;
// - after `retries` retries the last error ends the call as the `cause` of a
//   KafkaJSNumberOfRetriesExceeded with `retryCount` and `retryTime` (with `retries: 0`
//   too, as kafkajs does);
// - an error passed to `bail(error)` is rethrown as it is; any other error thrown by `fn`
//   becomes the cause of a KafkaJSNonRetriableError, as kafkajs's retrier does. Callers
//   bail with the errors kafkajs's own callers bail with, so each call fails as in kafkajs.

const { KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError } = require('./errors')
const { describe } = require('./validate')

const retryDefaults = {
  maxRetryTime: 30 * 1000,
  initialRetryTime: 300,
  factor: 0.2,
  multiplier: 2,
  retries: 5,
}

const NUMERIC = ['maxRetryTime', 'initialRetryTime', 'factor', 'multiplier', 'retries']
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * kafkajs's retry settings merged in order (the client's over the Kafka object's over
 * the defaults), each layer checked: `retry` must be an object, its numbers numbers.
 * Fields kafkajs users add (the consumer's `restartOnFailure`) are kept.
 */
function retryConfig(...layers) {
  const out = { ...retryDefaults }
  for (const layer of layers) {
    if (layer === undefined || layer === null) continue
    if (typeof layer !== 'object' || Array.isArray(layer)) {
      throw new TypeError(`retry must be an object like { retries, initialRetryTime, maxRetryTime, factor, multiplier }, got ${describe(layer)}`)
    }
    for (const name of NUMERIC) {
      const v = layer[name]
      if (v === undefined) continue
      const ok =
        typeof v === 'number' &&
        (Number.isFinite(v) || (name === 'retries' && v === Infinity)) &&
        (name === 'retries'
          ? (Number.isInteger(v) || v === Infinity) && v >= 0
          : name === 'factor'
            ? v >= 0 && v <= 1
            : name === 'multiplier'
              ? v >= 1 && v <= 1000
              : v >= 0 && v <= MAX_TIMER_MS)
      if (!ok) {
        const rule = {
          retries: 'a non-negative integer (or Infinity)',
          factor: 'a number from 0 to 1',
          multiplier: 'a number from 1 to 1000',
        }[name] || `a number of milliseconds from 0 to ${MAX_TIMER_MS}`
        throw new TypeError(`retry.${name} must be ${rule}, got ${describe(v)}`)
      }
    }
    if (layer.restartOnFailure !== undefined && typeof layer.restartOnFailure !== 'function') {
      throw new TypeError(`retry.restartOnFailure must be a function, got ${describe(layer.restartOnFailure)}`)
    }
    Object.assign(out, layer)
  }
  return out
}


/** `retryTime` ± `factor` of it, at random (kafkajs's jitter). */
function jittered(factor, retryTime) {
  const delta = factor * retryTime
  return Math.ceil(retryTime - delta + Math.random() * 2 * delta)
}

/** The wait before retry number `attempt` (1-based), for loops that keep their own
 * schedule (the consumer's per-partition handler retries). */
function retryDelay({ initialRetryTime, factor, multiplier, maxRetryTime }, attempt) {
  const base = initialRetryTime * Math.pow(multiplier, Math.max(0, attempt - 1))
  const jitter = base * factor * (Math.random() * 2 - 1)
  return Math.min(maxRetryTime, Math.max(0, Math.round(base + jitter)))
}

const UNRECOVERABLE = new Set(['RangeError', 'ReferenceError', 'SyntaxError', 'TypeError'])

/** Whether an error may go away if the same call is made again (kafkajs's rule). */
function isRetriable(e) {
  return e != null && e.retriable !== false && !UNRECOVERABLE.has(e.name)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The retrier for one config (see `retryConfig`). `onRetry(error, retryCount, retryTime)`
 * hears of each retry before its wait (for a log line).
 */
function createRetry(config = retryDefaults, { onRetry } = {}) {
  const { factor, multiplier, maxRetryTime, retries, initialRetryTime } = { ...retryDefaults, ...config }
  // `firstError`: the caller already made attempt 0 itself (a fast path) and it failed so.
  return async function retrier(fn, firstError) {
    let retryTime = Math.min(jittered(factor, initialRetryTime), maxRetryTime)
    for (let retryCount = 0; ; retryCount++) {
      let bailed = null
      const bail = (error) => {
        if (!bailed) bailed = { error: error || new KafkaJSNonRetriableError('Aborted') }
      }
      let error = null
      if (retryCount === 0 && firstError !== undefined) {
        error = firstError
      } else {
        try {
          const value = await fn(bail, retryCount, retryTime)
          if (!bailed) return value
        } catch (e) {
          error = e
        }
      }
      if (bailed) throw bailed.error
      if (!isRetriable(error)) throw new KafkaJSNonRetriableError(error, { cause: (error && error.cause) || error })
      if (retryCount >= retries) throw new KafkaJSNumberOfRetriesExceeded(error, { retryCount, retryTime })
      if (onRetry) onRetry(error, retryCount, retryTime)
      await sleep(retryTime)
      retryTime = Math.min(jittered(factor, retryTime) * multiplier, maxRetryTime)
    }
  }
}

module.exports = { retryDefaults, retryConfig, retryDelay, createRetry, isRetriable }
