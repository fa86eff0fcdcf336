'use strict'

// samsa's public API: kafkajs's, over an embedded broker. See README.md.

const { Kafka } = require('./lib/kafka')
const { Partitioners } = require('./lib/partitioners')
const { CompressionTypes } = require('./lib/producer')
const { PartitionAssigners } = require('./lib/consumer')
const { ConfigResourceTypes, ConfigSource } = require('./lib/admin')
const { logLevel } = require('./lib/logger')
const errors = require('./lib/errors')

module.exports = {
  Kafka,
  Partitioners,
  PartitionAssigners,
  CompressionTypes,
  ConfigResourceTypes,
  ConfigSource,
  logLevel,
  ...Object.fromEntries(Object.entries(errors).filter(([name]) => name.startsWith('KafkaJS'))),
}
