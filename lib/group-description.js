'use strict'

// kafkajs's shape of a described consumer group, from the coordinator's description.
// Each member's metadata and assignment are the Kafka consumer-protocol bytes that
// AssignerProtocol decodes, as a Kafka broker reports them.

const { AssignerProtocol } = require('./assigner-protocol')

function describeGroupShape(g) {
  return {
    errorCode: 0,
    groupId: g.groupId,
    state: g.state,
    // As Kafka describes a group it does not know (Dead): no protocol type.
    protocolType: g.state === 'Dead' ? '' : 'consumer',
    protocol: g.protocol,
    members: g.members.map((m) => {
      const assignment = groupByTopic(m.assigned)
      return {
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics: m.topics }),
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment }),
        assignment,
      }
    }),
  }
}

function groupByTopic(tps) {
  const out = {}
  for (const { topic, partition } of tps) (out[topic] = out[topic] || []).push(partition)
  for (const t of Object.keys(out)) out[t].sort((a, b) => a - b)
  return out
}

module.exports = { describeGroupShape, groupByTopic }
