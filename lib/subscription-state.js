'use strict'

// Which assigned partitions are paused, with kafkajs's rules: pausing a whole topic
// (no `partitions`) pauses all of its partitions, and resuming some partitions of a topic
// paused whole resumes only those; `paused()` lists assigned partitions only.

class SubscriptionState {
  constructor() {
    this.assigned = [] // [{ topic, partitions }]
    this.byTopic = new Map() // topic -> { paused: Set, pauseAll, resumed: Set }
  }

  assign(topicPartitions) {
    this.assigned = topicPartitions
  }

  state(topic) {
    let s = this.byTopic.get(topic)
    if (!s) this.byTopic.set(topic, (s = { paused: new Set(), pauseAll: false, resumed: new Set() }))
    return s
  }

  pause(topicPartitions) {
    for (const { topic, partitions } of topicPartitions) {
      const s = this.state(topic)
      if (partitions === undefined) {
        s.paused.clear()
        s.resumed.clear()
        s.pauseAll = true
      } else {
        for (const p of partitions) {
          s.paused.add(p)
          s.resumed.delete(p)
        }
        s.pauseAll = false
      }
    }
  }

  resume(topicPartitions) {
    for (const { topic, partitions } of topicPartitions) {
      const s = this.state(topic)
      if (partitions === undefined) {
        s.paused.clear()
        s.resumed.clear()
        s.pauseAll = false
      } else {
        for (const p of partitions) {
          s.paused.delete(p)
          if (s.pauseAll) s.resumed.add(p)
        }
      }
    }
  }

  isPaused(topic, partition) {
    const s = this.byTopic.get(topic)
    if (!s) return false
    return (s.pauseAll && !s.resumed.has(partition)) || s.paused.has(partition)
  }

  paused() {
    return this.assigned
      .map(({ topic, partitions }) => ({ topic, partitions: partitions.filter((p) => this.isPaused(topic, p)).sort((a, b) => a - b) }))
      .filter(({ partitions }) => partitions.length > 0)
  }
}

module.exports = { SubscriptionState }
