'use strict'

// kafkajs's retry settings and backoff: the delay grows by `multiplier` per attempt, with
// `factor` of random jitter, capped at `maxRetryTime`.

const retryDefaults = {
  maxRetryTime: 30 * 1000,
  initialRetryTime: 300,
  factor: 0.2,
  multiplier: 2,
  retries: 5,
}

function retryDelay({ initialRetryTime, factor, multiplier, maxRetryTime }, attempt) {
  const base = initialRetryTime * Math.pow(multiplier, Math.max(0, attempt - 1))
  const jitter = base * factor * (Math.random() * 2 - 1)
  return Math.min(maxRetryTime, Math.max(0, Math.round(base + jitter)))
}

module.exports = { retryDefaults, retryDelay }
