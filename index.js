'use strict'

// samsa's public API: kafkajs's, over an embedded broker. See README.md.

const { Kafka } = require('./lib/kafka')
const { Partitioners } = require('./lib/partitioners')
const { CompressionTypes } = require('./lib/producer')
const { PartitionAssigners } = require('./lib/consumer')
const { AssignerProtocol } = require('./lib/assigner-protocol')
const { ConfigResourceTypes, ConfigSource } = require('./lib/admin')
const { logLevel } = require('./lib/logger')
const errors = require('./lib/errors')

// Every codec (GZIP, Snappy, LZ4, ZSTD) is built into the native log, so registering a JS
// codec changes nothing. The object exists so kafkajs code that registers one still runs.
const CompressionCodecs = {}

// Kafka's ACL enums, for code that references them; samsa has no ACLs (admin's ACL
// methods say so).
const AclResourceTypes = { UNKNOWN: 0, ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, TRANSACTIONAL_ID: 5, DELEGATION_TOKEN: 6 }
const AclOperationTypes = {
  UNKNOWN: 0, ANY: 1, ALL: 2, READ: 3, WRITE: 4, CREATE: 5, DELETE: 6, ALTER: 7, DESCRIBE: 8,
  CLUSTER_ACTION: 9, DESCRIBE_CONFIGS: 10, ALTER_CONFIGS: 11, IDEMPOTENT_WRITE: 12,
}
const AclPermissionTypes = { UNKNOWN: 0, ANY: 1, DENY: 2, ALLOW: 3 }
const ResourcePatternTypes = { UNKNOWN: 0, ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 }

module.exports = {
  Kafka,
  Partitioners,
  PartitionAssigners,
  AssignerProtocol,
  CompressionTypes,
  CompressionCodecs,
  AclResourceTypes,
  AclOperationTypes,
  AclPermissionTypes,
  ResourcePatternTypes,
  ConfigResourceTypes,
  ConfigSource,
  logLevel,
  ...Object.fromEntries(Object.entries(errors).filter(([name]) => name.startsWith('KafkaJS'))),
}
