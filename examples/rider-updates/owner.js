'use strict'

// Which process owns a samsa data directory: its owner records itself in `samsa.owner`
// (JSON with a `pid`). The record outlives an owner that was killed, so a pid read here
// may be of a process that is gone; it serves logs and the order of a clean shutdown.

const fs = require('node:fs')
const path = require('node:path')

/** The pid recorded as the owner of `samsaDir`, or null when there is no record yet. */
function ownerPid(samsaDir) {
  try {
    const { pid } = JSON.parse(fs.readFileSync(path.join(samsaDir, 'samsa.owner'), 'utf8'))
    return Number.isInteger(pid) ? pid : null
  } catch {
    return null
  }
}

module.exports = { ownerPid }
