'use strict'

// Where the consumer stands on each partition it owns, and committing it: the starting
// position of a partition just assigned, seeks, and the commits (after each batch in the
// background, on kafkajs's autoCommitInterval/Threshold, or explicit). Separate from the
// group, which decides which partitions are owned, and from the runner, which moves
// positions forward as handlers return.

const { KafkaJSNonRetriableError } = require('../errors')
const { retryDelay } = require('../retry')
const { PartitionState, key } = require('./partition-state')

// Background commits after batches start at most this often: at low latency a busy
// partition yields a batch every fraction of a millisecond, and a commit (a round trip to
// the coordinator, a write to its offsets file) per batch would cost more than the
// batches. A lone batch commits at once; anything that must commit now cuts the wait.
const COMMIT_SPACING_MS = 5

class OffsetManager {
  constructor(consumer) {
    this.consumer = consumer
    this.autoCommit = false // run()'s options, from run() on
    this.autoCommitInterval = null
    this.autoCommitThreshold = null
    this.lastCommit = Date.now()
    this.resolvedSinceCommit = 0
    this.committing = null // the commit after a batch, while in flight (see commitSoon)
    this.commitAgain = false
    this.commitStarted = 0 // when the last background commit went out (performance.now())
    this.commitWait = null // { timer, go }: a background commit waiting for its turn
    this.commitNow = false // someone waits for the background commits: no more turns
    this.pendingSeeks = new Map() // seeks of partitions not (yet) assigned to this member
  }

  /** Takes run()'s options for the runs to come. */
  configure({ autoCommit, autoCommitInterval, autoCommitThreshold }) {
    this.autoCommit = autoCommit !== false
    this.autoCommitInterval = autoCommitInterval ?? null
    this.autoCommitThreshold = autoCommitThreshold ?? null
  }

  /** Where to start each new partition: a pending seek, else the committed offset, else
   * earliest or latest by `fromBeginning` (also when the committed offset is no longer in
   * the log). One native call per topic, however many partitions arrive. Each partition
   * is owned (and readable) as soon as its position is known. */
  async startPartitions(shared, added, cache = new Map()) {
    const c = this.consumer
    const byTopic = new Map()
    for (const tp of added) {
      if (!byTopic.has(tp.topic)) byTopic.set(tp.topic, [])
      byTopic.get(tp.topic).push(tp.partition)
    }
    for (const [topic, partitions] of byTopic) {
      // One native call per topic for committed offsets and one for watermarks, however
      // many slices its partitions start in.
      let known = cache.get(topic)
      if (!known) {
        known = {
          committed: new Map((await shared.callAsync(() => shared.native.committedOffsets(c.groupId, topic))).map((o) => [o.partition, o.offset])),
          marks: await shared.callAsync(() => shared.native.watermarks(topic)),
        }
        cache.set(topic, known)
      }
      const { committed, marks } = known
      for (const partition of partitions) {
        const k = key(topic, partition)
        const p = new PartitionState(topic, partition)
        // [low, high, last stable] per partition: "latest" for a read-committed consumer
        // is the last stable offset, as Kafka's ListOffsets answers it.
        const low = marks[3 * partition] || 0
        const high = marks[3 * partition + 1] || 0
        const latest = c.runner.readUncommitted ? high : marks[3 * partition + 2] || 0
        const committedOffset = committed.get(partition)
        const seekTo = this.pendingSeeks.get(k)
        if (seekTo !== undefined) {
          this.pendingSeeks.delete(k)
          p.position = seekTo === -2 ? low : seekTo === -1 ? latest : seekTo
          p.resolved = p.position
          if (committedOffset !== undefined) p.committed = committedOffset
        } else if (committedOffset !== undefined && committedOffset >= low && committedOffset <= high) {
          p.position = committedOffset
          p.committed = committedOffset
        } else {
          p.position = c.fromBeginning(topic) ? low : latest
        }
        c.group.partitions.set(k, p)
        c.runner.readable.add(k)
      }
    }
  }

  /** Moves a partition to offset `o` (kafkajs's seek, checked by the caller): from inside
   * a handler, the rest of the batch is skipped; for a partition not assigned yet, it
   * applies when it is. With autoCommit the new position is what the group commits next. */
  seek(shared, topic, partition, o) {
    const k = key(topic, partition)
    const p = this.consumer.group.partitions.get(k)
    if (!p) {
      // Not assigned to this member (yet): applied if and when it is.
      this.pendingSeeks.set(k, o)
      return
    }
    p.seeked = true
    p.damaged = null
    p.retries = 0
    p.retryAt = 0
    this.moveTo(shared, p, o, () => (p.resolved = p.position))
  }

  /**
   * Moves a partition's position to `o` (-2 earliest, -1 latest, else the offset). The
   * watermarks of a directory another process owns come by request: meanwhile the
   * partition is not fetched. `then` runs once the position is set.
   */
  moveTo(shared, p, o, then) {
    const c = this.consumer
    // The latest move wins: a lookup still running for an earlier one is dropped.
    p.resetting = null
    const k = key(p.topic, p.partition)
    const done = (low, high) => {
      p.position = o === -2 ? low : o === -1 ? high : o
      then()
      c.runner.readable.add(k)
      c.runner.wake()
    }
    if (o >= 0) return done(o, o)
    const token = {}
    p.resetting = token
    shared.native.offsets(p.topic).then((m) => {
      // A topic deleted and made again with fewer partitions meanwhile.
      if (!m[p.partition]) throw new Error(`topic ${p.topic} has no partition ${p.partition}`)
      return m[p.partition]
    }).then(
      ({ low, high, stable }) => {
        if (p.resetting !== token) return
        p.resetting = null
        done(low, c.runner.readUncommitted ? high : stable)
      },
      (e) => {
        if (p.resetting !== token) return
        c.log.warn('Looking up offsets failed', { topic: p.topic, partition: p.partition, error: shared.error(e).message })
        setTimeout(() => {
          if (p.resetting !== token) return
          p.resetting = null
          if (c.running) this.moveTo(shared, p, o, then)
        }, retryDelay(c.retry, 1))
      }
    )
  }

  commitFailed(e) {
    // Fenced (the partition moved) or the member was removed: the loop rejoins.
    this.consumer.log.warn('Offset commit refused', { groupId: this.consumer.groupId, error: e.message })
  }

  uncommittedOffsets() {
    const topics = {}
    for (const p of this.consumer.group.partitions.values()) {
      if (p.resolved !== null && p.resolved !== p.committed) {
        ;(topics[p.topic] = topics[p.topic] || []).push({ partition: p.partition, offset: String(p.resolved) })
      }
    }
    return { topics: Object.entries(topics).map(([topic, partitions]) => ({ topic, partitions })) }
  }

  async commitIfNecessary() {
    const now = Date.now()
    const timeUp = this.autoCommitInterval !== null && now >= this.lastCommit + this.autoCommitInterval
    if (timeUp || (this.autoCommitThreshold !== null && this.resolvedSinceCommit >= this.autoCommitThreshold)) {
      await this.commitPartitions([...this.consumer.group.partitions.values()])
    }
  }

  /** The commit after a batch, without holding up the next batch for the coordinator's
   * answer (kafkajs awaits it: a round trip per batch on the path of every message). One
   * commit is in flight at a time, one starts at most every COMMIT_SPACING_MS, and the
   * batches processed meanwhile are committed together. At least once still holds: only
   * processed offsets are committed, and a revocation, a stop or an explicit commit
   * waits for this one first (see commitsDone). */
  commitSoon() {
    if (this.committing) {
      this.commitAgain = true
      return
    }
    const { group } = this.consumer
    this.committing = (async () => {
      do {
        // (A timer counts from the event loop's cached time and may fire early: hence
        // the loop.)
        let wait
        while ((wait = this.commitStarted + COMMIT_SPACING_MS - performance.now()) > 0 && !this.commitNow) {
          await new Promise((go) => {
            this.commitWait = { timer: setTimeout(go, wait), go }
          })
          this.commitWait = null
        }
        // Batches that end from here on are not in this commit's offsets.
        this.commitAgain = false
        this.commitStarted = performance.now()
        await this.commitResolved([...group.partitions.values()]).catch((e) => this.commitFailed(e))
      } while (this.commitAgain && group.member)
    })().finally(() => {
      this.committing = null
      this.commitNow = false
    })
  }

  /** The background commit, now: a revocation, a stop or an explicit commit waits for
   * it, and not for its turn. */
  async commitsDone() {
    if (!this.committing) return
    this.commitNow = true
    const w = this.commitWait
    if (w) {
      clearTimeout(w.timer)
      w.go()
    }
    await this.committing
  }

  /** Commits the resolved offsets of `states` that moved since their last commit, after
   * the background commits in flight (if any; they never reject). */
  async commitPartitions(states) {
    await this.commitsDone()
    await this.commitResolved(states)
  }

  async commitResolved(states) {
    const offsets = []
    for (const p of states) {
      if (p.resolved !== null && p.resolved !== p.committed) offsets.push({ topic: p.topic, partition: p.partition, offset: p.resolved, p })
    }
    if (offsets.length === 0 || !this.consumer.group.member) return
    await this.commitToCoordinator(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })))
    for (const o of offsets) o.p.committed = o.offset
    this.lastCommit = Date.now()
    this.resolvedSinceCommit = 0
  }

  /** Commits explicit offsets (checked by the caller; offset = next to read) after the
   * background commit, and makes them where the partitions owned stand. */
  async commitExplicit(list) {
    if (!this.consumer.group.member) throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    await this.commitsDone()
    await this.commitToCoordinator(list)
    for (const { topic, partition, offset } of list) {
      const p = this.consumer.group.partitions.get(key(topic, partition))
      if (p) {
        p.committed = offset
        p.resolved = offset
      }
    }
  }

  async commitToCoordinator(offsets) {
    const c = this.consumer
    const { group } = c
    const member = group.member
    const shared = c.shared
    await shared.callAsync(() => member.commit(offsets))
    if (!c.listening(c.events.COMMIT_OFFSETS)) return
    const topics = {}
    for (const { topic, partition, offset } of offsets) (topics[topic] = topics[topic] || []).push({ partition, offset: String(offset) })
    c.emit(c.events.COMMIT_OFFSETS, {
      groupId: c.groupId,
      memberId: group.memberId,
      groupGenerationId: group.generation,
      topics: Object.entries(topics).map(([topic, partitions]) => ({ topic, partitions })),
    })
  }
}

module.exports = { OffsetManager }
