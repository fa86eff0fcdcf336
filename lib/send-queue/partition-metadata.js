'use strict'

// The partition metadata kafkajs gives partitioners (and admin.fetchTopicMetadata lists),
// one shared array per partition count: every partition is led by this broker, node 0.
// Apart from the builder because the admin needs it too.

const metadataCache = new Map()
function partitionMetadataOf(n) {
  let m = metadataCache.get(n)
  if (!m) {
    m = Array.from({ length: n }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    }))
    metadataCache.set(n, m)
  }
  return m
}

module.exports = { partitionMetadataOf }
