'use strict'

// Transactions, against idempotent sends of the same size in the same run:
//   1. in process: a transaction of 100 messages over 4 partitions (one sendBatch, then
//      commit), ROUNDS times: the commit's latency (p50, p99) and the whole transaction's,
//      and messages per second; then the same 100 messages sent by an idempotent producer
//      (one sendBatch), ROUNDS times: messages per second. The target: transactional
//      throughput at least half the idempotent one.
//   2. the same over the Kafka wire with kafkajs (kafka.listen()), as a client in another
//      process would see it.
// Each with fsync off (the default) and on. Ratios matter; absolute times vary on shared
// machines.
//
//   node bench/transactions.js [rounds, 2000]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Kafka, logLevel } = require('..')
const kafkajs = require('kafkajs')

const ROUNDS = Number(process.argv[2] || 2000)
const PER_TXN = 100
const PARTITIONS = 4

function tmp(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `samsa-bench-${name}-`))
}

function messages(round) {
  const out = []
  for (let i = 0; i < PER_TXN; i++) out.push({ key: `rider-${(round * PER_TXN + i) % 5000}`, value: `{"lat":51.5,"lng":-0.12,"seq":${round * PER_TXN + i}}` })
  return out
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function run(label, kafkaLike, warmup) {
  const admin = kafkaLike.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'txn', numPartitions: PARTITIONS }, { topic: 'idem', numPartitions: PARTITIONS }] })
  await admin.disconnect()

  const producer = kafkaLike.producer({ transactionalId: `bench-${label}`, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const commits = []
  const whole = []
  let start = performance.now()
  for (let r = -warmup; r < ROUNDS; r++) {
    if (r === 0) start = performance.now()
    const began = performance.now()
    const tx = await producer.transaction()
    await tx.sendBatch({ topicMessages: [{ topic: 'txn', messages: messages(r) }] })
    const committing = performance.now()
    await tx.commit()
    const done = performance.now()
    if (r >= 0) {
      commits.push(done - committing)
      whole.push(done - began)
    }
  }
  const txnRate = (ROUNDS * PER_TXN) / ((performance.now() - start) / 1000)
  await producer.disconnect()

  const idem = kafkaLike.producer({ idempotent: true, maxInFlightRequests: 1 })
  await idem.connect()
  for (let r = -warmup; r < ROUNDS; r++) {
    if (r === 0) start = performance.now()
    await idem.sendBatch({ topicMessages: [{ topic: 'idem', messages: messages(r) }] })
  }
  const idemRate = (ROUNDS * PER_TXN) / ((performance.now() - start) / 1000)
  await idem.disconnect()

  commits.sort((a, b) => a - b)
  whole.sort((a, b) => a - b)
  const ms = (v) => v.toFixed(2)
  console.log(
    `${label.padEnd(22)} commit p50 ${ms(percentile(commits, 50))} ms, p99 ${ms(percentile(commits, 99))} ms; ` +
      `transaction p50 ${ms(percentile(whole, 50))} ms, p99 ${ms(percentile(whole, 99))} ms; ` +
      `${Math.round(txnRate)} msg/s transactional vs ${Math.round(idemRate)} msg/s idempotent (${(txnRate / idemRate).toFixed(2)}x)`
  )
}

async function main() {
  console.log(`${ROUNDS} transactions of ${PER_TXN} messages over ${PARTITIONS} partitions, against idempotent sends of the same batches`)
  for (const fsync of [false, true]) {
    const kafka = new Kafka({ dataDir: tmp('txn'), fsync, logLevel: logLevel.NOTHING })
    await run(`in process, fsync ${fsync ? 'on' : 'off'}`, kafka, 50)
    await kafka.close()
  }
  for (const fsync of [false, true]) {
    const kafka = new Kafka({ dataDir: tmp('txn-wire'), fsync, logLevel: logLevel.NOTHING })
    const { port } = await kafka.listen({ port: 0 })
    const client = new kafkajs.Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: kafkajs.logLevel.NOTHING })
    await run(`kafkajs wire, fsync ${fsync ? 'on' : 'off'}`, client, 50)
    await kafka.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
