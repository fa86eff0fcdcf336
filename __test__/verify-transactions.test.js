'use strict'

// `npx samsa verify` and transactions: markers are counted, not damage; a transaction
// whose records have no marker and which transactions.log does not know as open (its
// state lost) is a hanging transaction that holds read-committed consumers back, as in
// Kafka: verify reports it (exit 1) and --repair aborts it, after which consumers go on.

const fs = require('node:fs')
const path = require('node:path')
const { Kafka } = require('..')
const { runNode, tempDir, waitFor, ROOT } = require('./helpers')

const bin = path.join(ROOT, 'bin', 'samsa.js')

test('verify counts markers, reports a hanging transaction, and --repair aborts it', async () => {
  const dataDir = tempDir()
  let kafka = new Kafka({ dataDir, logLevel: 0 })
  const producer = kafka.producer({ transactionalId: 'verify-tx', idempotent: true })
  await producer.connect()
  let tx = await producer.transaction()
  await tx.send({ topic: 'ledger', messages: [{ value: 'committed' }] })
  await tx.commit()
  tx = await producer.transaction()
  await tx.send({ topic: 'ledger', messages: [{ value: 'left open' }] })
  await producer.disconnect()
  await kafka.close()

  // The coordinator knows the open transaction: nothing hangs.
  let r = await runNode([bin, 'verify', dataDir])
  expect(r.stdout).toMatch(/1 transaction marker\(s\)/)
  expect(r.stdout).toMatch(/no damage found/)
  expect(r.code).toBe(0)

  // Its state lost, the transaction hangs.
  fs.unlinkSync(path.join(dataDir, 'transactions.log'))
  r = await runNode([bin, 'verify', dataDir])
  expect(r.code).toBe(1)
  expect(r.stdout).toMatch(/HANGING transaction ledger-0: producer \d+ from offset 2/)

  r = await runNode([bin, 'verify', dataDir, '--repair'])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/ABORTED hanging transaction ledger-0/)
  r = await runNode([bin, 'verify', dataDir])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/2 transaction marker\(s\)/)

  kafka = new Kafka({ dataDir, logLevel: 0 })
  const seen = []
  const consumer = kafka.consumer({ groupId: 'after-repair' })
  await consumer.connect()
  await consumer.subscribe({ topic: 'ledger', fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => seen.push(message.value.toString()) })
  const admin = kafka.admin()
  await admin.connect()
  // The read-committed end is past the aborted records and their marker.
  await waitFor(async () => (await admin.fetchTopicOffsets('ledger'))[0].offset === '4')
  await waitFor(() => seen.length === 1)
  expect(seen).toEqual(['committed'])
  await consumer.disconnect()
  await admin.disconnect()
  await kafka.close()
}, 30000)
