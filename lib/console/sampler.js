'use strict'

// The console's memory of the last minutes: every SAMPLE_INTERVAL_MS while at least one
// page is open (an /api/events stream), it looks at the broker and keeps each topic's
// high watermarks (produce rates come from them) and each group's lag, in fixed rings of
// KEEP_MS; then it tells the open pages a sample was taken, and they fetch what they
// show. With no page open there is no timer and no work at all: the console costs the
// application nothing until someone looks.

const SAMPLE_INTERVAL_MS = 2000
const KEEP_MS = 10 * 60 * 1000
const CAPACITY = KEEP_MS / SAMPLE_INTERVAL_MS
// Partitions whose lag is kept one by one, per group (beyond them, the group's total).
const MAX_PARTITION_SERIES = 64

/** Values of one series, one per sample slot of the ring (NaN: none then). */
function emptySeries() {
  return new Float64Array(CAPACITY).fill(NaN)
}

class Sampler {
  constructor(state, { intervalMs = SAMPLE_INTERVAL_MS, onError = () => {} } = {}) {
    this.state = state
    this.intervalMs = intervalMs
    this.onError = onError
    this.clients = new Set() // open /api/events responses
    this.timer = null
    this.sampling = false
    // The ring: slot `head` holds the newest sample; `count` slots are in use.
    this.times = new Float64Array(CAPACITY).fill(NaN)
    this.head = -1
    this.count = 0
    this.topicHigh = new Map() // topic -> series of the sum of its high watermarks
    this.groupLag = new Map() // group -> series of its total lag
    this.partitionLag = new Map() // group -> Map "topic\0partition" -> series of its lag
  }

  /** A page opened its event stream: sampling runs while any is open. */
  addClient(res) {
    this.clients.add(res)
    if (this.timer === null) {
      this.timer = setInterval(() => this.sample(), this.intervalMs)
      this.timer.unref()
      this.sample()
    }
  }

  removeClient(res) {
    this.clients.delete(res)
    if (this.clients.size === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }

  stop() {
    for (const res of this.clients) res.end()
    this.clients.clear()
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  async sample() {
    // A look slower than the interval (an owner that answers slowly) is not piled upon.
    if (this.sampling) return
    this.sampling = true
    try {
      const s = await this.state.current()
      if (this.timer === null) return // the last page closed meanwhile
      // A look a page's request took a moment ago is no new sample.
      if (this.count > 0 && s.at <= this.times[this.head]) return
      this.record(s)
      const event = `event: sample\ndata: ${JSON.stringify({ at: s.at })}\n\n`
      for (const res of this.clients) res.write(event)
    } catch (e) {
      this.onError(e)
    } finally {
      this.sampling = false
    }
  }

  record(s) {
    this.head = (this.head + 1) % CAPACITY
    this.count = Math.min(this.count + 1, CAPACITY)
    this.times[this.head] = s.at
    const seen = new Set()
    for (const t of s.topics) {
      seen.add(t.name)
      let high = 0
      for (const p of t.partitions) high += p.high
      this.put(this.topicHigh, t.name, high)
    }
    this.forgetMissing(this.topicHigh, seen)
    seen.clear()
    for (const g of s.groups) {
      seen.add(g.groupId)
      this.put(this.groupLag, g.groupId, g.lag === null ? NaN : g.lag)
      let parts = this.partitionLag.get(g.groupId)
      if (!parts) this.partitionLag.set(g.groupId, (parts = new Map()))
      const seenParts = new Set()
      for (const o of g.offsets) {
        for (const p of o.partitions) {
          const k = `${o.topic}\0${p.partition}`
          if (!parts.has(k) && parts.size >= MAX_PARTITION_SERIES) continue
          seenParts.add(k)
          this.put(parts, k, p.lag === null ? NaN : p.lag)
        }
      }
      this.forgetMissing(parts, seenParts)
    }
    this.forgetMissing(this.groupLag, seen)
    for (const id of this.partitionLag.keys()) if (!seen.has(id)) this.partitionLag.delete(id)
  }

  put(map, key, value) {
    let series = map.get(key)
    if (!series) map.set(key, (series = emptySeries()))
    series[this.head] = value
  }

  /** Series whose topic or group is gone are dropped; the others get NaN where it was
   * not seen this time (their slot still holds the value of a sample KEEP_MS ago). */
  forgetMissing(map, seen) {
    for (const [key, series] of map) {
      if (seen.has(key)) continue
      series[this.head] = NaN
      if (series.every(Number.isNaN)) map.delete(key)
    }
  }

  /** The slots in time order, oldest first. */
  order() {
    const out = []
    for (let i = this.count - 1; i >= 0; i--) out.push((this.head - i + CAPACITY) % CAPACITY)
    return out
  }

  /** Sample times, oldest first (ms since the epoch). */
  sampleTimes() {
    return this.order().map((i) => this.times[i])
  }

  /** A series in time order, NaN as null (JSON). */
  valuesOf(series) {
    return this.order().map((i) => (series && !Number.isNaN(series[i]) ? series[i] : null))
  }

  /** A topic's produce rate (messages/s) between consecutive samples, oldest first; the
   * first has none. */
  produceRates(topic) {
    const series = this.topicHigh.get(topic)
    const slots = this.order()
    return slots.map((slot, k) => {
      if (!series || k === 0) return null
      const prev = slots[k - 1]
      const dv = series[slot] - series[prev]
      const dt = (this.times[slot] - this.times[prev]) / 1000
      // A gap (no page was open) or a recreated topic is not a rate.
      if (!(dt > 0) || dt > (3 * this.intervalMs) / 1000 || !(dv >= 0)) return null
      return Math.round(dv / dt)
    })
  }

  /** A group's lag over time: { total, partitions: [{ topic, partition, values }] }. */
  lagHistory(groupId) {
    const parts = this.partitionLag.get(groupId) || new Map()
    return {
      total: this.valuesOf(this.groupLag.get(groupId)),
      partitions: [...parts].map(([k, series]) => {
        const [topic, partition] = k.split('\0')
        return { topic, partition: Number(partition), values: this.valuesOf(series) }
      }),
    }
  }
}

module.exports = { Sampler, SAMPLE_INTERVAL_MS, KEEP_MS }
