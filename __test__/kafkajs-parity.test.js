'use strict'

// Code written for kafkajs must find the same names here: exports, enum values, event
// names and client methods, compared against the kafkajs package itself.

const kafkajs = require('kafkajs')
const samsa = require('..')
const { tempDir } = require('./helpers')

// Custom partition assigners (and so their wire encoding) are refused for now.
const NOT_EXPORTED = ['AssignerProtocol']

const methods = (o) => {
  const out = new Set(Object.keys(o))
  for (let p = Object.getPrototypeOf(o); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) out.add(n)
  }
  return out
}

test('every kafkajs export is here', () => {
  expect(Object.keys(kafkajs).filter((k) => !(k in samsa) && !NOT_EXPORTED.includes(k))).toEqual([])
  for (const name of Object.keys(kafkajs).filter((k) => k.startsWith('KafkaJS'))) {
    expect(typeof samsa[name]).toBe('function')
  }
})

test.each(['CompressionTypes', 'ConfigResourceTypes', 'ConfigSource', 'logLevel', 'AclResourceTypes', 'AclOperationTypes', 'AclPermissionTypes', 'ResourcePatternTypes'])(
  '%s has kafkajs values',
  (name) => {
    for (const [k, v] of Object.entries(kafkajs[name])) expect([k, samsa[name][k]]).toEqual([k, v])
  }
)

test('clients have kafkajs methods and event names', () => {
  const k = new kafkajs.Kafka({ brokers: ['localhost:1'], logLevel: kafkajs.logLevel.NOTHING })
  const s = new samsa.Kafka({ dataDir: tempDir(), logLevel: samsa.logLevel.NOTHING })
  for (const [a, b] of [
    [k.producer(), s.producer()],
    [k.admin(), s.admin()],
    [k.consumer({ groupId: 'g' }), s.consumer({ groupId: 'g' })],
  ]) {
    const have = methods(b)
    expect(Object.keys(a).filter((m) => !have.has(m))).toEqual([])
    expect(b.events).toEqual(a.events)
  }
})

test('error classes keep the fields of kafkajs constructor arguments', () => {
  const partition = { partitionErrorCode: 0, partitionId: 1, leader: 0, replicas: [0], isr: [0] }
  const cases = [
    ['KafkaJSOffsetOutOfRange', { message: 'out', type: 'OFFSET_OUT_OF_RANGE', code: 1, retriable: false }, { topic: 't', partition: 1 }],
    ['KafkaJSNumberOfRetriesExceeded', new Error('gave up'), { retryCount: 5, retryTime: 300 }],
    ['KafkaJSConnectionError', 'refused', { broker: 'h:1', code: 'ECONNREFUSED' }],
    ['KafkaJSConnectionClosedError', 'closed', { host: 'h', port: 1 }],
    ['KafkaJSRequestTimeoutError', 'late', { broker: 'h:1', clientId: 'c', correlationId: 3, createdAt: 1, sentAt: 2, pendingDuration: 1 }],
    ['KafkaJSTopicMetadataNotLoaded', 'no metadata', { topic: 't' }],
    ['KafkaJSStaleTopicMetadataAssignment', 'stale', { topic: 't', unknownPartitions: [partition] }],
    ['KafkaJSServerDoesNotSupportApiKey', 'unsupported', { apiKey: 0, apiName: 'Produce' }],
    ['KafkaJSMemberIdRequired', { message: 'rejoin', type: 'MEMBER_ID_REQUIRED', code: 79, retriable: false }, { memberId: 'm' }],
  ]
  const fields = (e) => {
    const { stack, cause, ...own } = Object.fromEntries(Object.entries(e))
    return { ...own, message: e.message, name: e.name }
  }
  for (const [name, e, metadata] of cases) {
    expect([name, fields(new samsa[name](e, metadata))]).toEqual([name, fields(new kafkajs[name](e, metadata))])
  }
})
