'use strict'

// kafkajs's logging model: numeric levels, a `logCreator(level)` that returns
// `({ namespace, level, label, log }) => void`, and namespaced child loggers.

const logLevel = { NOTHING: 0, ERROR: 1, WARN: 2, INFO: 4, DEBUG: 5 }
const LABELS = { 1: 'ERROR', 2: 'WARN', 4: 'INFO', 5: 'DEBUG' }

const defaultLogCreator = () => ({ namespace, level, label, log }) => {
  const prefix = namespace ? `[${namespace}] ` : ''
  const line = JSON.stringify({
    level: label,
    timestamp: log.timestamp,
    logger: 'samsa',
    message: `${prefix}${log.message}`,
    ...Object.fromEntries(Object.entries(log).filter(([k]) => k !== 'message' && k !== 'timestamp')),
  })
  if (level === logLevel.ERROR) console.error(line)
  else if (level === logLevel.WARN) console.warn(line)
  else console.log(line)
}

function createLogger({ level = logLevel.INFO, logCreator = defaultLogCreator } = {}) {
  let current = typeof level === 'number' ? level : logLevel.INFO
  const write = logCreator(current)

  const make = (namespace) => {
    const emit = (lvl) => (message, extra = {}) => {
      if (lvl > current || current === logLevel.NOTHING) return
      write({
        namespace,
        level: lvl,
        label: LABELS[lvl],
        log: { timestamp: new Date().toISOString(), message, ...extra },
      })
    }
    return {
      info: emit(logLevel.INFO),
      error: emit(logLevel.ERROR),
      warn: emit(logLevel.WARN),
      debug: emit(logLevel.DEBUG),
      namespace: (child, childLevel) => {
        const ns = namespace ? `${namespace}.${child}` : child
        if (childLevel !== undefined) current = childLevel
        return make(ns)
      },
      setLogLevel: (l) => {
        current = l
      },
    }
  }
  return make('')
}

module.exports = { logLevel, createLogger }
