'use strict'

const { Kafka, logLevel } = require('..')
const { tempDir, waitFor } = require('./helpers')

const FAST = { sessionTimeout: 3000, rebalanceTimeout: 3000, heartbeatInterval: 50, maxWaitTimeInMs: 200, retry: { initialRetryTime: 50, retries: 1 } }

// Every client a test makes is disconnected after it, even when the test fails, so a
// running consumer never keeps jest alive.
const clients = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => {})))
})

function track(client) {
  clients.push(client)
  return client
}

function setup(options = {}) {
  const dataDir = options.dataDir || tempDir()
  const kafka = new Kafka({ clientId: 'test', dataDir, logLevel: logLevel.NOTHING, ...options })
  return { dataDir, kafka }
}

async function produce(kafka, topic, messages) {
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages })
  await producer.disconnect()
}

/** A consumer recording what it receives: `got` holds `${partition}:${offset}:${value}`. */
async function startConsumer(kafka, { groupId, topics, fromBeginning = true, options = {}, run = {}, onMessage } = {}) {
  const consumer = track(kafka.consumer({ groupId, ...FAST, ...options }))
  const got = []
  const joins = []
  const joinEvents = []
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joins.push(e.payload.memberAssignment)
    joinEvents.push(e.payload)
  })
  await consumer.connect()
  await consumer.subscribe({ topics, fromBeginning })
  await consumer.run({
    eachMessage: async (payload) => {
      if (onMessage) await onMessage(payload)
      got.push(`${payload.partition}:${payload.message.offset}:${payload.message.value}`)
    },
    ...run,
  })
  return { consumer, got, joins, joinEvents, owned: () => (joins.length ? joins[joins.length - 1] : {}) }
}

const values = (got) => got.map((g) => g.split(':').slice(2).join(':'))

module.exports = { FAST, setup, produce, startConsumer, values, waitFor, track }
