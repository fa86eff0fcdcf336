'use strict'

// The loud end of a plain `npx jest` run that skipped tests for a missing requirement
// (under scripts/test.js, that script prints the summary instead).

const fs = require('node:fs')
const { LOG_ENV, readLog, summaryLines, box } = require('./requirements')

module.exports = async function globalTeardown() {
  const dir = process.env.SAMSA_TEST_REQUIREMENTS_LOG_OWNED
  if (!dir) return
  const lines = summaryLines(readLog().filter((e) => e.event !== 'installed'))
  if (lines.length > 0) console.warn(`\n${box(['Test requirements missing in this run:', ...lines])}\n`)
  fs.rmSync(dir, { recursive: true, force: true })
  delete process.env[LOG_ENV]
  delete process.env.SAMSA_TEST_REQUIREMENTS_LOG_OWNED
}
