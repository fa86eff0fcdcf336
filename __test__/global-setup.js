'use strict'

// Gives the run a requirement log (see requirements.js) when scripts/test.js has not, so a
// plain `npx jest` also lists the requirements it skipped, at its end (global-teardown.js).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { LOG_ENV } = require('./requirements')

module.exports = async function globalSetup() {
  if (process.env[LOG_ENV]) return
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-jest-'))
  // Set before the workers start, so they inherit it.
  process.env[LOG_ENV] = path.join(dir, 'requirements.jsonl')
  process.env.SAMSA_TEST_REQUIREMENTS_LOG_OWNED = dir
}
