// The crash course's Kafka client.
//
// By default, samsa embedded: every program opens the same data directory (SAMSA_DATA_DIR,
// or .samsa beside these files). The first to start owns it; the others reach it through
// that process, with nothing to configure: run admin.js, two `consumer.js group-1`, one
// `consumer.js group-2` and producer.js, each in its own terminal.
//
// With KAFKA_BROKER=host:port, kafkajs pointed at a broker instead: `npx samsa serve`
// (localhost:9092), or Apache Kafka.
const path = require('path')

if (process.env.KAFKA_BROKER) {
  const { Kafka } = require('kafkajs')
  exports.kafka = new Kafka({
    clientId: 'my-app',
    brokers: [process.env.KAFKA_BROKER],
  })
} else {
  const { Kafka } = require('../..')
  exports.kafka = new Kafka({
    clientId: 'my-app',
    dataDir: process.env.SAMSA_DATA_DIR || path.join(__dirname, '.samsa'),
  })
}
