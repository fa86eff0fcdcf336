'use strict'
// The README's quick start: create a topic with a partition per region, send rider
// updates keyed by rider id, and show where they landed. Run: npm start

const { Kafka } = require('..')

async function main() {
  const kafka = new Kafka({ clientId: 'rider-app', dataDir: process.env.DATA_DIR || './data' })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })

  const producer = kafka.producer()
  await producer.connect()
  const riders = ['rider-42', 'rider-7', 'rider-19', 'rider-3']
  for (const id of riders) {
    const update = { lat: 52.52 + Math.random() / 100, lng: 13.4 + Math.random() / 100, at: Date.now() }
    const [r] = await producer.send({ topic: 'rider-updates', messages: [{ key: id, value: JSON.stringify(update) }] })
    console.log(`${id} -> partition ${r.partition}, offset ${r.baseOffset}`)
  }
  console.log('offsets per partition:', await admin.fetchTopicOffsets('rider-updates'))
  await producer.disconnect()
  await admin.disconnect()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
