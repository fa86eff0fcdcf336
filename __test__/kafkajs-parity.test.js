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
