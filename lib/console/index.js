'use strict'

// kafka.console(): the samsa console, a web UI of the data directory served beside the
// application (or by `samsa console`): topics, groups, lag and messages. It is one more
// client of the Kafka object, as a listener is: it keeps the broker open while it serves,
// and kafka.close() stops it. Read-only unless started with allowWrites.

const { describe, options: optionsOf } = require('../validate')
const { KafkaJSNonRetriableError } = require('../errors')
const { BrokerState } = require('./state')
const { Sampler } = require('./sampler')
const { ConsoleApi } = require('./api')
const { ConsoleServer, loadAssets } = require('./server')

const DEFAULT_PORT = 9080
const OPTIONS = ['port', 'host', 'allowWrites']
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

function consoleOptions(options) {
  const given = optionsOf(options, 'console()')
  for (const name of Object.keys(given)) {
    if (!OPTIONS.includes(name)) throw new TypeError(`console() has no option "${name}" (it takes ${OPTIONS.join(', ')})`)
  }
  const { port = DEFAULT_PORT, host = '127.0.0.1', allowWrites = false } = given
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`port must be an integer from 0 to 65535, got ${describe(port)}`)
  if (typeof host !== 'string' || host === '') throw new TypeError(`host must be a non-empty string, got ${describe(host)}`)
  if (typeof allowWrites !== 'boolean') throw new TypeError(`allowWrites must be a boolean, got ${describe(allowWrites)}`)
  return { port, host, allowWrites }
}

/** Starts the console of `kafka`'s data directory; resolves to { url, host, port, allowWrites, close }. */
async function startConsole(kafka, options) {
  const { port, host, allowWrites } = consoleOptions(options)
  if (kafka.consoleServer) throw new KafkaJSNonRetriableError(`this Kafka object already serves a console at ${kafka.consoleServer.url}`)
  const log = kafka.logger().namespace('Console')
  const handle = { url: null, host: null, port: null, allowWrites, close: null }
  let parts = null
  // The console's hold on the broker, released when it stops (kafka.close() included).
  const client = {
    disconnect: async () => {
      if (kafka.consoleServer !== handle) return
      kafka.consoleServer = null
      try {
        if (parts) {
          await parts.server.close()
          await parts.api.close()
          await parts.admin.disconnect()
        }
      } finally {
        await kafka._release(client, shared)
      }
    },
  }
  handle.close = client.disconnect
  // Claimed before anything is awaited: a second console() meanwhile is refused.
  kafka.consoleServer = handle
  let shared
  try {
    shared = await kafka._acquire(client)
  } catch (e) {
    kafka.consoleServer = null
    throw e
  }
  try {
    const admin = kafka.admin()
    await admin.connect()
    const state = new BrokerState(shared)
    const sampler = new Sampler(state, { onError: (e) => log.warn(`Console sample failed: ${e.message}`) })
    const info = { url: null, startedAt: Date.now() }
    const api = new ConsoleApi({ kafka, shared, admin, state, sampler, allowWrites, info })
    const server = new ConsoleServer({ api, sampler, assets: await loadAssets(), allowWrites, log })
    parts = { admin, api, server }
    let address
    try {
      address = await server.listen(port, host)
    } catch (e) {
      throw new KafkaJSNonRetriableError(`the console cannot listen on ${host}:${port}: ${e.message}`)
    }
    const shown = address.host.includes(':') ? `[${address.host}]` : address.host
    info.url = `http://${shown}:${address.port}/`
    Object.assign(handle, { url: info.url, host: address.host, port: address.port })
  } catch (e) {
    await client.disconnect()
    throw e
  }
  if (!LOOPBACK.has(host)) log.warn('The console serves an address other than loopback: anyone who reaches it can read every topic', { host, allowWrites })
  log.info('Serving the console', { url: handle.url, allowWrites, dataDir: shared.key })
  return handle
}

module.exports = { startConsole, DEFAULT_PORT }
