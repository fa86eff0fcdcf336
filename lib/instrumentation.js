'use strict'

const { EventEmitter } = require('node:events')
const { KafkaJSNonRetriableError } = require('./errors')

let nextId = 0

/**
 * kafkajs's instrumentation events: `on(eventName, listener)` with events named like
 * 'producer.connect', each delivered as `{ id, type, timestamp, payload }`. A listener
 * that throws or rejects is logged, never crashes the client. Returns a remover.
 */
function createEvents(prefix, names, logger) {
  const events = {}
  // kafkajs puts the request events under `.network`: 'producer.network.request'.
  for (const name of names) events[name] = `${prefix}.${name.startsWith('REQUEST') ? 'network.' : ''}${name.toLowerCase()}`
  const emitter = new EventEmitter()
  const valid = new Set(Object.values(events))

  const on = (eventName, listener) => {
    if (!valid.has(eventName)) {
      throw new KafkaJSNonRetriableError(
        `Event name should be one of ${Object.keys(events).map((k) => `${prefix}.events.${k}`).join(', ')}`
      )
    }
    const wrapped = (event) => {
      Promise.resolve()
        .then(() => listener(event))
        .catch((e) => logger.error(`Failed to execute listener: ${e.message}`, { eventName, stack: e.stack }))
    }
    emitter.on(eventName, wrapped)
    return () => emitter.removeListener(eventName, wrapped)
  }

  const emit = (eventName, payload) => {
    if (emitter.listenerCount(eventName) === 0) return
    emitter.emit(eventName, { id: nextId++, type: eventName, timestamp: Date.now(), payload })
  }

  /** Whether anyone listens, so hot paths build payloads only when needed. */
  const listening = (eventName) => emitter.listenerCount(eventName) > 0

  return { events, on, emit, listening }
}

module.exports = { createEvents }
