'use strict'

// Where a consumer stands on one partition it owns. Every part of the consumer reads and
// writes these records (the group makes and drops them, the offset manager moves and
// commits them, the runner fetches and handles them), so they sit apart from all three.

const key = (topic, partition) => `${topic}\u0000${partition}`

class PartitionState {
  constructor(topic, partition) {
    this.topic = topic
    this.partition = partition
    this.position = null // next offset to fetch
    this.resolved = null // next offset to commit (last resolved + 1)
    this.committed = null
    this.revoked = false // being handed over to another member
    this.busy = false // when its handler started (Date.now()), while one runs
    this.retries = 0 // failed tries of the handler on the message at `position`
    this.retryAt = 0 // not fetched before this time (Date.now()), after a failure
    // A seek happened while a batch of this partition was being handled: the rest of
    // that batch is not delivered.
    this.seeked = false
    // The error of damaged data at `position`: nothing is fetched until a seek.
    this.damaged = null
    // A lookup of the watermarks for a seek to earliest or latest, while it runs (a token
    // the latest move owns): nothing is fetched meanwhile.
    this.resetting = null
  }
}

module.exports = { PartitionState, key }
